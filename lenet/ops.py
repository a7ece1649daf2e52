"""NumPy reference implementations of convolution and pooling, forward and backward.

Same signatures, layouts and results as ``torch.nn.functional``, on NCHW arrays:

* :func:`im2col` / :func:`col2im` -- windows to columns and back (``F.unfold`` / ``F.fold``)
* :func:`conv2d` -- im2col, then one matrix product; :func:`conv2d_naive` -- loops, to compare
* :func:`conv_transpose2d` -- the adjoint of :func:`conv2d`, via col2im
* :func:`max_pool2d`, :func:`avg_pool2d`
* :func:`conv2d_backward`, :func:`max_pool2d_backward`, :func:`avg_pool2d_backward`

Layouts: ``x`` is ``(N, C, H, W)``; a conv2d weight is ``(K, C, kh, kw)``; a
conv_transpose2d weight is ``(C_in, C_out, kh, kw)``; columns are ``(N, C*kh*kw, H'*W')``,
row ``c*kh*kw + i*kw + j`` holding tap ``(i, j)`` of channel ``c`` and column
``oh*W' + ow`` the window of output pixel ``(oh, ow)``. ``kernel_size``, ``stride``,
``padding`` and ``dilation`` are an int or a ``(height, width)`` pair.

Everything is vectorised: windows are strided *views* of the input (no copy until the matrix
product needs one), and the only Python loops run over the ``kh*kw`` kernel taps in
:func:`col2im`, never over pixels. Output sizes and their checks come from
:mod:`lenet.arithmetic`. Arrays are computed in the input's float dtype (float32 or float64;
integer input becomes float64), and other operands are cast to it.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.lib.stride_tricks import as_strided

from ._checks import fail
from .arithmetic import _check_int, conv_output_size, conv_transpose_output_size, pool_output_size

__all__ = [
    "avg_pool2d",
    "avg_pool2d_backward",
    "col2im",
    "conv2d",
    "conv2d_backward",
    "conv2d_naive",
    "conv_transpose2d",
    "im2col",
    "max_pool2d",
    "max_pool2d_backward",
]

IntPair = int | tuple[int, int]
Pair = tuple[int, int]
_AXES = ("height", "width")


# ------------------------------------------------------------------------------- validation


#: The largest kernel size, stride, padding or dilation the reference ops accept: they
#: are for small teaching examples, and beyond this a padded copy or a window view would
#: ask the allocator for gigabytes.
MAX_PARAM = 1024


def _pair(fn: str, name: str, value: object, minimum: int = 1) -> Pair:
    """``value`` (an int or a (height, width) pair) as two checked ints."""
    try:
        for v in value if isinstance(value, (tuple, list)) else (value,):
            if isinstance(v, int) and v > MAX_PARAM:
                fail(name, v, f"must be <= {MAX_PARAM} (the reference ops are for small "
                              "examples)")
        if isinstance(value, (tuple, list)):
            if len(value) != 2:
                fail(name, value, f"must be an int or a (height, width) pair of ints >= "
                                  f"{minimum}")
            return _check_int(name, value[0], minimum), _check_int(name, value[1], minimum)
        v = _check_int(name, value, minimum)
        return v, v
    except (TypeError, ValueError) as err:
        raise type(err)(f"{fn}: {err}") from None


def _array(fn: str, name: str, value: object, layout: str, dtype: np.dtype | None = None
           ) -> np.ndarray:
    """``value`` as a 4-D float array; ``dtype`` None means 'the caller's working dtype'."""
    arr = np.asarray(value)
    if arr.dtype.kind not in "biuf":
        fail(f"{fn}: {name}", arr, "must hold real numbers", TypeError)
    if arr.ndim != 4:
        fail(f"{fn}: {name}", arr, f"must be a 4-D array {layout}, not {arr.ndim}-D")
    if dtype is None:
        dtype = arr.dtype if arr.dtype.kind == "f" else np.dtype(np.float64)
    return arr.astype(dtype, copy=False)


def _input(fn: str, x: object) -> np.ndarray:
    return _array(fn, "x", x, "(N, C, H, W)")


def _bias(fn: str, bias: object, channels: int, dtype: np.dtype) -> np.ndarray | None:
    if bias is None:
        return None
    b = np.asarray(bias)
    if b.shape != (channels,):
        fail(f"{fn}: bias", b, f"must have shape ({channels},), one value per output channel")
    return b.astype(dtype, copy=False)


def _along(fn: str, axis: str, size_fn, *args: int) -> int:
    """``size_fn(*args)`` for one axis, with ``fn`` and the axis prefixed to its errors."""
    try:
        return size_fn(*args)
    except ValueError as err:
        raise ValueError(f"{fn}: along the {axis} of x: {err}") from None


def _conv_out(fn: str, hw: Sequence[int], kernel: Pair, stride: Pair, padding: Pair,
              dilation: Pair) -> Pair:
    ho, wo = (_along(fn, *args) for args in zip(
        _AXES, (conv_output_size,) * 2, hw, kernel, stride, padding, dilation))
    return ho, wo


def _window_args(fn: str, hw: Sequence[int], kernel_size: IntPair, stride: IntPair,
                 padding: IntPair, dilation: IntPair) -> tuple[Pair, Pair, Pair, Pair, Pair]:
    """Checked ``kernel, stride, padding, dilation, (H', W')`` of sliding (dilated) windows."""
    kernel = _pair(fn, "kernel_size", kernel_size)
    stride = _pair(fn, "stride", stride)
    padding = _pair(fn, "padding", padding, minimum=0)
    dilation = _pair(fn, "dilation", dilation)
    out = _conv_out(fn, hw, kernel, stride, padding, dilation)
    return kernel, stride, padding, dilation, out


def _pool_args(fn: str, x_hw: Sequence[int], kernel_size: IntPair, stride: IntPair | None,
               padding: IntPair) -> tuple[Pair, Pair, Pair, Pair]:
    """Checked ``kernel, stride, padding, (H', W')`` of a pooling; stride defaults to kernel."""
    kernel = _pair(fn, "kernel_size", kernel_size)
    stride = kernel if stride is None else _pair(fn, "stride", stride)
    padding = _pair(fn, "padding", padding, minimum=0)
    out = tuple(_along(fn, *args) for args in zip(
        _AXES, (pool_output_size,) * 2, x_hw, kernel, stride, padding))
    return kernel, stride, padding, out


def _check_grad(fn: str, grad_out: object, shape: tuple[int, ...], dtype: np.dtype
                ) -> np.ndarray:
    g = _array(fn, "grad_out", grad_out, "(N, C, H', W')", dtype)
    if g.shape != shape:
        fail(f"{fn}: grad_out", g, f"must have the forward output's shape {shape}")
    return g


# ------------------------------------------------------------------------- im2col / col2im


def _pad(x: np.ndarray, padding: Pair, value: float = 0.0) -> np.ndarray:
    (ph, pw) = padding
    if ph == pw == 0:
        return x
    return np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)), constant_values=value)


def _windows(xp: np.ndarray, kernel: Pair, stride: Pair, dilation: Pair, out: Pair
             ) -> np.ndarray:
    """Every window of the padded input as a read-only view ``(N, C, kh, kw, H', W')``.

    Element ``[n, c, i, j, oh, ow]`` is ``xp[n, c, oh*sh + i*dh, ow*sw + j*dw]``: moving one
    tap is ``dilation`` rows, moving one window is ``stride`` rows, so both are just strides.
    The sizes come from :mod:`lenet.arithmetic`, which guarantees every window is in bounds.
    """
    (kh, kw), (sh, sw), (dh, dw), (ho, wo) = kernel, stride, dilation, out
    n, c = xp.shape[:2]
    s_n, s_c, s_h, s_w = xp.strides
    return as_strided(xp, shape=(n, c, kh, kw, ho, wo),
                      strides=(s_n, s_c, dh * s_h, dw * s_w, sh * s_h, sw * s_w),
                      writeable=False)


def _scatter(cols: np.ndarray, shape: tuple[int, int, int, int], stride: Pair, dilation: Pair
             ) -> np.ndarray:
    """The adjoint of :func:`_windows`: add ``cols (N, C, kh, kw, H', W')`` back into a
    zero array of ``shape`` (the padded input), summing where windows overlap."""
    kh, kw, ho, wo = cols.shape[2:]
    (sh, sw), (dh, dw) = stride, dilation
    out = np.zeros(shape, dtype=cols.dtype)
    # One vectorised add per kernel tap (kh*kw of them): tap (i, j) of all windows lands on a
    # strided grid where no two windows meet, so `+=` on the slice never drops a sum.
    for i in range(kh):
        for j in range(kw):
            out[:, :, i * dh:i * dh + sh * (ho - 1) + 1:sh,
                j * dw:j * dw + sw * (wo - 1) + 1:sw] += cols[:, :, i, j]
    return out


def im2col(x: np.ndarray, kernel_size: IntPair, stride: IntPair = 1, padding: IntPair = 0,
           dilation: IntPair = 1) -> np.ndarray:
    """Unfold every (dilated) window into a column, like ``torch.nn.functional.unfold``.

    Shape: ``(N, C, H, W) -> (N, C*kh*kw, H'*W')`` with ``H', W'`` from
    :func:`lenet.arithmetic.conv_output_size`. Zero padding.
    """
    fn = "im2col"
    x = _input(fn, x)
    kernel, stride, padding, dilation, out = _window_args(
        fn, x.shape[2:], kernel_size, stride, padding, dilation)
    n, c = x.shape[:2]
    # reshape of the strided view is where the copy happens: k*k values per output pixel.
    return _windows(_pad(x, padding), kernel, stride, dilation, out).reshape(
        n, c * kernel[0] * kernel[1], out[0] * out[1])


def col2im(cols: np.ndarray, input_shape: Sequence[int], kernel_size: IntPair,
           stride: IntPair = 1, padding: IntPair = 0, dilation: IntPair = 1) -> np.ndarray:
    """Fold columns back into an image, summing overlaps, like ``torch.nn.functional.fold``.

    The adjoint (transpose) of :func:`im2col`, not its inverse: a pixel covered by ``m``
    windows receives the sum of its ``m`` copies. Pixels that padding or the stride's
    remainder leave out receive 0.
    Shape: ``(N, C*kh*kw, H'*W') -> input_shape = (N, C, H, W)``.
    """
    fn = "col2im"
    if not (isinstance(input_shape, Sequence) and len(input_shape) == 4):
        raise ValueError(f"{fn}: input_shape must be 4 ints (N, C, H, W), got {input_shape!r}")
    n, c, h, w = (_pair(fn, f"input_shape[{i}]", v)[0] for i, v in enumerate(input_shape))
    kernel, stride, padding, dilation, (ho, wo) = _window_args(
        fn, (h, w), kernel_size, stride, padding, dilation)
    cols = np.asarray(cols)
    if cols.dtype.kind not in "biuf":
        raise TypeError(f"{fn}: cols must hold real numbers, got dtype {cols.dtype}")
    if cols.dtype.kind != "f":
        cols = cols.astype(np.float64)
    expected = (n, c * kernel[0] * kernel[1], ho * wo)
    if cols.shape != expected:
        raise ValueError(
            f"{fn}: cols must have shape (N, C*kh*kw, H'*W') = {expected} for input_shape "
            f"{tuple(input_shape)}, got {cols.shape}")
    (ph, pw) = padding
    full = _scatter(cols.reshape(n, c, *kernel, ho, wo), (n, c, h + 2 * ph, w + 2 * pw),
                    stride, dilation)
    return np.ascontiguousarray(full[:, :, ph:ph + h, pw:pw + w])


# ----------------------------------------------------------------------------- convolution


def _conv_operands(fn: str, x: object, weight: object, stride: IntPair, padding: IntPair,
                   dilation: IntPair):
    """Checked ``x, weight, stride, padding, dilation, (H', W')`` of a conv2d call."""
    x = _input(fn, x)
    weight = _array(fn, "weight", weight, "(K, C, kh, kw)", x.dtype)
    if weight.shape[1] != x.shape[1]:
        raise ValueError(
            f"{fn}: x has C={x.shape[1]} channels (x.shape={x.shape}) but weight expects "
            f"{weight.shape[1]} input channels (weight.shape={weight.shape}); they must match")
    stride = _pair(fn, "stride", stride)
    padding = _pair(fn, "padding", padding, minimum=0)
    dilation = _pair(fn, "dilation", dilation)
    out = _conv_out(fn, x.shape[2:], weight.shape[2:], stride, padding, dilation)
    return x, weight, stride, padding, dilation, out


def conv2d(x: np.ndarray, weight: np.ndarray, bias: np.ndarray | None = None,
           stride: IntPair = 1, padding: IntPair = 0, dilation: IntPair = 1) -> np.ndarray:
    """2-D convolution (cross-correlation, as in PyTorch) by im2col and one matrix product.

    Shapes: x ``(N, C, H, W)``, weight ``(K, C, kh, kw)``, bias ``(K,)`` ->
    ``(N, K, H', W')``, ``H' = floor((H + 2p - d(kh-1) - 1)/s) + 1``. Zero padding.
    At stride 1 the columns are built over the input's full width, a chunk of images at a
    time (see ``_conv2d_full_width``): the same products, copied and multiplied faster.
    """
    x, weight, stride, padding, dilation, (ho, wo) = _conv_operands(
        "conv2d", x, weight, stride, padding, dilation)
    n, k = x.shape[0], weight.shape[0]
    bias = _bias("conv2d", bias, k, x.dtype)
    if stride == (1, 1):
        return _conv2d_full_width(x, weight, bias, padding, dilation, (ho, wo))
    c, kh, kw = weight.shape[1:]
    # im2col: reshaping the strided view copies each window into a column.
    cols = _windows(_pad(x, padding), (kh, kw), stride, dilation, (ho, wo)).reshape(
        n, c * kh * kw, ho * wo)
    # (K, C*kh*kw) @ (N, C*kh*kw, H'*W') -> (N, K, H'*W'): already NCHW, no transpose.
    # (Measured: faster than one big GEMM or tensordot, which must transpose the result.)
    out = weight.reshape(k, -1) @ cols
    if bias is not None:
        out += bias.reshape(1, k, 1)
    return out.reshape(n, k, ho, wo)


#: Bytes of im2col columns :func:`conv2d` builds at a time: a chunk of images whose columns
#: stay in the CPU's cache from being copied to being multiplied (measured on LeNet's C1 and
#: C3 at batch 256: 1 MiB beat 256 KiB to 4 MiB and the whole batch at once).
CHUNK_BYTES = 1 << 20


def _conv2d_full_width(x: np.ndarray, weight: np.ndarray, bias: np.ndarray | None,
                       padding: Pair, dilation: Pair, out: Pair) -> np.ndarray:
    """:func:`conv2d` at stride 1, by "full-width" im2col a chunk of images at a time.

    At stride 1, output pixel ``(oh, ow)`` reads ``xp[c, oh + i*dh, ow + j*dw]``. Computing
    every output row over the padded input's full width ``Wp`` instead of ``W'`` puts output
    pixel ``(oh, ow)`` at flat offset ``oh*Wp + ow``: the window view's two pixel axes merge
    into one of stride 1, and tap ``(c, i, j)`` of all ``H'*Wp`` outputs is ONE contiguous
    run of the flattened input, starting at ``c*Hp*Wp + i*dh*Wp + j*dw``. Copying such runs
    is several times faster than copying ``W'``-long rows (C3: 10 floats). The price is
    ``Wp - W'`` junk columns per row (C3: 4 of 14), computed and then dropped. Chunking
    (:data:`CHUNK_BYTES`) keeps the columns in cache for the matrix product.
    """
    n, c, h, w = x.shape
    k, _, kh, kw = weight.shape
    (ph, pw), (dh, dw), (ho, wo) = padding, dilation, out
    hp, wp = h + 2 * ph, w + 2 * pw
    plane = hp * wp
    # The junk columns of the last image's last row read dw*(kw-1) values past its end.
    slack = dw * (kw - 1)
    flat = np.zeros(n * c * plane + slack, dtype=x.dtype)
    flat[:n * c * plane].reshape(n, c, hp, wp)[:, :, ph:ph + h, pw:pw + w] = x
    it = flat.itemsize
    windows = as_strided(flat, shape=(n, c, kh, kw, ho * wp),
                         strides=(c * plane * it, plane * it, dh * wp * it, dw * it, it),
                         writeable=False)
    taps = c * kh * kw
    chunk = max(1, min(n, CHUNK_BYTES // (taps * ho * wp * it)))
    cols = np.empty((chunk, taps, ho * wp), dtype=x.dtype)
    prod = np.empty((chunk, k, ho * wp), dtype=x.dtype)
    result = np.empty((n, k, ho, wo), dtype=x.dtype)
    w2 = weight.reshape(k, taps)
    for s in range(0, n, chunk):
        m = min(chunk, n - s)
        np.copyto(cols[:m].reshape(m, c, kh, kw, ho * wp), windows[s:s + m])
        # (K, C*kh*kw) @ (m, C*kh*kw, H'*Wp) -> (m, K, H'*Wp): NCHW order, no transpose.
        np.matmul(w2, cols[:m], out=prod[:m])
        rows = prod[:m].reshape(m, k, ho, wp)[..., :wo]  # drop the junk columns
        if bias is None:
            result[s:s + m] = rows
        else:
            np.add(rows, bias.reshape(1, k, 1, 1), out=result[s:s + m])
    return result


def conv2d_naive(x: np.ndarray, weight: np.ndarray, bias: np.ndarray | None = None,
                 stride: IntPair = 1, padding: IntPair = 0, dilation: IntPair = 1
                 ) -> np.ndarray:
    """:func:`conv2d` the textbook way: a Python loop over every output value.

    Only to show what im2col buys (and to check it on tiny inputs): one small dot product
    per ``(n, k, oh, ow)``. Shapes as :func:`conv2d`.
    """
    x, weight, (sh, sw), padding, (dh, dw), (ho, wo) = _conv_operands(
        "conv2d_naive", x, weight, stride, padding, dilation)
    n, k, (kh, kw) = x.shape[0], weight.shape[0], weight.shape[2:]
    bias = _bias("conv2d_naive", bias, k, x.dtype)
    xp = _pad(x, padding)
    out = np.zeros((n, k, ho, wo), dtype=x.dtype)
    for b in range(n):
        for f in range(k):
            for oh in range(ho):
                for ow in range(wo):
                    window = xp[b, :, oh * sh:oh * sh + dh * (kh - 1) + 1:dh,
                                ow * sw:ow * sw + dw * (kw - 1) + 1:dw]
                    out[b, f, oh, ow] = np.sum(window * weight[f])
    if bias is not None:
        out += bias.reshape(1, k, 1, 1)
    return out


def conv_transpose2d(x: np.ndarray, weight: np.ndarray, bias: np.ndarray | None = None,
                     stride: IntPair = 1, padding: IntPair = 0, output_padding: IntPair = 0,
                     dilation: IntPair = 1) -> np.ndarray:
    """Transposed convolution, as ``torch.nn.functional.conv_transpose2d``.

    The adjoint of :func:`conv2d` with the same geometry: each input pixel scatters a copy
    of the kernel, scaled by its value, into the output (one matrix product, then col2im).
    ``output_padding`` adds rows/columns at the bottom/right to pick among the input sizes
    a strided conv2d maps to the same size.
    Shapes: x ``(N, C_in, H, W)``, weight ``(C_in, C_out, kh, kw)``, bias ``(C_out,)`` ->
    ``(N, C_out, H_out, W_out)``, ``H_out = (H-1)s - 2p + d(kh-1) + output_padding + 1``.
    """
    fn = "conv_transpose2d"
    x = _input(fn, x)
    weight = _array(fn, "weight", weight, "(C_in, C_out, kh, kw)", x.dtype)
    if weight.shape[0] != x.shape[1]:
        raise ValueError(
            f"{fn}: x has C={x.shape[1]} channels (x.shape={x.shape}) but weight expects "
            f"{weight.shape[0]} input channels (weight.shape[0], weight.shape={weight.shape}); "
            f"they must match")
    stride = _pair(fn, "stride", stride)
    padding = _pair(fn, "padding", padding, minimum=0)
    output_padding = _pair(fn, "output_padding", output_padding, minimum=0)
    dilation = _pair(fn, "dilation", dilation)
    h_out, w_out = (_along(fn, *args) for args in zip(
        _AXES, (conv_transpose_output_size,) * 2, x.shape[2:], weight.shape[2:], stride,
        padding, output_padding, dilation))
    n, c_in, h, w = x.shape
    c_out, kh, kw = weight.shape[1:]
    bias = _bias(fn, bias, c_out, x.dtype)
    # (C_out*kh*kw, C_in) @ (N, C_in, H*W): every input pixel's copy of the kernel.
    cols = weight.reshape(c_in, -1).T @ x.reshape(n, c_in, h * w)
    # Scatter into the uncropped output, then crop `padding` from each side. With
    # output_padding > padding the crop reaches past the scattered area: those rows are 0.
    (ph, pw) = padding
    full_h = max((h - 1) * stride[0] + dilation[0] * (kh - 1) + 1, ph + h_out)
    full_w = max((w - 1) * stride[1] + dilation[1] * (kw - 1) + 1, pw + w_out)
    full = _scatter(cols.reshape(n, c_out, kh, kw, h, w), (n, c_out, full_h, full_w),
                    stride, dilation)
    out = np.ascontiguousarray(full[:, :, ph:ph + h_out, pw:pw + w_out])
    if bias is not None:
        out += bias.reshape(1, c_out, 1, 1)
    return out


def conv2d_backward(grad_out: np.ndarray, x: np.ndarray, weight: np.ndarray,
                    stride: IntPair = 1, padding: IntPair = 0, dilation: IntPair = 1
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Gradients of :func:`conv2d` given ``grad_out = dL/d(output)``.

    With ``cols = im2col(x)`` and the forward ``out = W @ cols + b``:
    ``dW = grad_out @ cols.T`` (summed over the batch), ``db = grad_out`` summed over
    ``N, H', W'``, and ``dx = col2im(W.T @ grad_out)`` -- the transposed convolution of
    ``grad_out``, i.e. ``conv_transpose2d(grad_out, weight, stride=s, padding=p,
    output_padding=r, dilation=d)`` with ``r`` the rows the stride left unused.
    Shapes: grad_out ``(N, K, H', W')``, x ``(N, C, H, W)``, weight ``(K, C, kh, kw)`` ->
    ``(grad_x (N, C, H, W), grad_weight (K, C, kh, kw), grad_bias (K,))``.
    """
    fn = "conv2d_backward"
    x, weight, stride, padding, dilation, (ho, wo) = _conv_operands(
        fn, x, weight, stride, padding, dilation)
    n, c, h, w = x.shape
    k, _, kh, kw = weight.shape
    g = _check_grad(fn, grad_out, (n, k, ho, wo), x.dtype).reshape(n, k, ho * wo)
    cols = _windows(_pad(x, padding), (kh, kw), stride, dilation, (ho, wo)).reshape(
        n, c * kh * kw, ho * wo)
    grad_w = np.tensordot(g, cols, axes=((0, 2), (0, 2))).reshape(weight.shape)
    grad_b = g.sum(axis=(0, 2))
    dcols = weight.reshape(k, -1).T @ g  # (N, C*kh*kw, H'*W')
    (ph, pw) = padding
    full = _scatter(dcols.reshape(n, c, kh, kw, ho, wo), (n, c, h + 2 * ph, w + 2 * pw),
                    stride, dilation)
    return np.ascontiguousarray(full[:, :, ph:ph + h, pw:pw + w]), grad_w, grad_b


# --------------------------------------------------------------------------------- pooling


def max_pool2d(x: np.ndarray, kernel_size: IntPair, stride: IntPair | None = None,
               padding: IntPair = 0) -> np.ndarray:
    """Max pooling, as ``torch.nn.functional.max_pool2d`` (floor mode, no dilation).

    ``stride`` defaults to ``kernel_size``; padding (at most ``kernel_size // 2``) is
    ``-inf``, so it never wins. Shape: ``(N, C, H, W) -> (N, C, H', W')``.
    """
    fn = "max_pool2d"
    x = _input(fn, x)
    kernel, stride, padding, out = _pool_args(fn, x.shape[2:], kernel_size, stride, padding)
    return _windows(_pad(x, padding, -np.inf), kernel, stride, (1, 1), out).max(axis=(2, 3))


def avg_pool2d(x: np.ndarray, kernel_size: IntPair, stride: IntPair | None = None,
               padding: IntPair = 0) -> np.ndarray:
    """Average pooling, as ``torch.nn.functional.avg_pool2d`` with its defaults.

    ``stride`` defaults to ``kernel_size``; padding is zeros and counts in the average
    (``count_include_pad=True``), so every window divides by ``kh*kw``.
    Shape: ``(N, C, H, W) -> (N, C, H', W')``.
    """
    fn = "avg_pool2d"
    x = _input(fn, x)
    kernel, stride, padding, out = _pool_args(fn, x.shape[2:], kernel_size, stride, padding)
    return _windows(_pad(x, padding), kernel, stride, (1, 1), out).mean(axis=(2, 3))


def max_pool2d_backward(grad_out: np.ndarray, x: np.ndarray, kernel_size: IntPair,
                        stride: IntPair | None = None, padding: IntPair = 0) -> np.ndarray:
    """Gradient of :func:`max_pool2d`: each window's ``grad_out`` goes to its maximum.

    Ties go to the first maximum in row-major window order (lowest row, then lowest column),
    the element PyTorch's CPU kernel picks (``np.argmax`` also returns the first). Windows
    that overlap and share a maximum add up their gradients there.
    Shapes: grad_out ``(N, C, H', W')``, x ``(N, C, H, W)`` -> ``(N, C, H, W)``.
    """
    fn = "max_pool2d_backward"
    x = _input(fn, x)
    kernel, stride, padding, (ho, wo) = _pool_args(fn, x.shape[2:], kernel_size, stride,
                                                   padding)
    n, c, h, w = x.shape
    g = _check_grad(fn, grad_out, (n, c, ho, wo), x.dtype)
    taps = kernel[0] * kernel[1]
    windows = _windows(_pad(x, padding, -np.inf), kernel, stride, (1, 1), (ho, wo))
    winner = windows.reshape(n, c, taps, ho, wo).argmax(axis=2)  # (N, C, H', W')
    # A one-hot column per window, scaled by its gradient, folded back like col2im.
    onehot = np.arange(taps).reshape(1, 1, taps, 1, 1) == winner[:, :, None]
    cols = (onehot * g[:, :, None]).reshape(n, c, *kernel, ho, wo)
    (ph, pw) = padding
    full = _scatter(cols, (n, c, h + 2 * ph, w + 2 * pw), stride, (1, 1))
    return np.ascontiguousarray(full[:, :, ph:ph + h, pw:pw + w])


def avg_pool2d_backward(grad_out: np.ndarray, x_shape: Sequence[int], kernel_size: IntPair,
                        stride: IntPair | None = None, padding: IntPair = 0) -> np.ndarray:
    """Gradient of :func:`avg_pool2d`: each window spreads ``grad_out / (kh*kw)`` evenly.

    Overlapping windows add up; padding's share is dropped. The result has ``grad_out``'s
    float dtype. Shapes: grad_out ``(N, C, H', W')``, x_shape ``(N, C, H, W)`` ->
    ``(N, C, H, W)``.
    """
    fn = "avg_pool2d_backward"
    if not (isinstance(x_shape, Sequence) and len(x_shape) == 4):
        raise ValueError(f"{fn}: x_shape must be 4 ints (N, C, H, W), got {x_shape!r}")
    n, c, h, w = (_pair(fn, f"x_shape[{i}]", v)[0] for i, v in enumerate(x_shape))
    kernel, stride, padding, (ho, wo) = _pool_args(fn, (h, w), kernel_size, stride, padding)
    g = _array(fn, "grad_out", grad_out, "(N, C, H', W')")
    if g.shape != (n, c, ho, wo):
        raise ValueError(
            f"{fn}: grad_out must have the forward output's shape {(n, c, ho, wo)}, got "
            f"{g.shape}")
    share = g / (kernel[0] * kernel[1])
    cols = np.broadcast_to(share[:, :, None, None], (n, c, *kernel, ho, wo))
    (ph, pw) = padding
    full = _scatter(cols, (n, c, h + 2 * ph, w + 2 * pw), stride, (1, 1))
    return np.ascontiguousarray(full[:, :, ph:ph + h, pw:pw + w])


# ---------------------------------------------------------------- the weight gradient


def conv2d_weight_grad(x: np.ndarray, grad_out: np.ndarray, kernel_size: IntPair,
                       stride: IntPair = 1, padding: IntPair = 0, dilation: IntPair = 1
                       ) -> np.ndarray:
    """``dL/dW`` of :func:`conv2d`, computed as a cross-correlation of ``x`` with ``grad_out``.

    The forward pass reads ``out[n, k, oh, ow] = sum_{c,i,j} xp[n, c, oh*s + i*d,
    ow*s + j*d] * W[k, c, i, j]`` (``xp`` is ``x`` zero-padded), so

        dW[k, c, i, j] = sum_{n, oh, ow} xp[n, c, i*d + oh*s, j*d + ow*s] * g[n, k, oh, ow]

    which is :func:`conv2d` itself with the roles swapped: the padded input (channels as
    the batch, the batch as channels) is the image, ``grad_out`` is the kernel, and stride
    and dilation trade places. The correlation can give a few rows/columns more than
    ``kernel_size`` when the stride leaves input rows unread; they are cut off.
    Equals the ``grad_weight`` of :func:`conv2d_backward` (which uses im2col).
    Shapes: x ``(N, C, H, W)``, grad_out ``(N, K, H', W')`` -> ``(K, C, kh, kw)``.
    """
    fn = "conv2d_weight_grad"
    x = _input(fn, x)
    kernel, stride, padding, dilation, (ho, wo) = _window_args(
        fn, x.shape[2:], kernel_size, stride, padding, dilation)
    g = _array(fn, "grad_out", grad_out, "(N, K, H', W')", x.dtype)
    if g.shape[0] != x.shape[0] or g.shape[2:] != (ho, wo):
        raise ValueError(
            f"{fn}: grad_out must have shape (N, K, H', W') = ({x.shape[0]}, K, {ho}, {wo}) "
            f"for x.shape={x.shape} and this geometry, got {g.shape}")
    # (C, N, Hp, Wp) correlated with (K, N, H', W'): stride d, dilation s -> (C, K, >=kh, >=kw)
    corr = conv2d(_pad(x, padding).transpose(1, 0, 2, 3), g.transpose(1, 0, 2, 3),
                  stride=dilation, dilation=stride)
    return np.ascontiguousarray(corr[:, :, :kernel[0], :kernel[1]].transpose(1, 0, 2, 3))


__all__ += ["conv2d_weight_grad"]
