"""Speed and accuracy measurements of the ``lenet`` package, outside the test suite."""
