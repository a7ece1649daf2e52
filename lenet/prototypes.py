"""The fixed 7x12 digit bitmaps that LeNet-5's RBF output units compare F6 against.

The paper drew its prototypes as stylised 7-wide, 12-tall images of the ten digits, each
pixel +1 (ink) or -1 (background), so that F6's 84 units have a target that is also a
readable picture. The bitmaps below are this project's own drawing of that idea.
"""

from __future__ import annotations

import torch

HEIGHT, WIDTH = 12, 7

_DIGITS: tuple[str, ...] = (
    # 0
    """
    .......
    ..###..
    .#...#.
    #.....#
    #.....#
    #.....#
    #.....#
    #.....#
    #.....#
    .#...#.
    ..###..
    .......
    """,
    # 1
    """
    .......
    ...#...
    ..##...
    .#.#...
    ...#...
    ...#...
    ...#...
    ...#...
    ...#...
    ...#...
    .#####.
    .......
    """,
    # 2
    """
    .......
    .####..
    #....#.
    .....#.
    .....#.
    ....#..
    ...#...
    ..#....
    .#.....
    #......
    ######.
    .......
    """,
    # 3
    """
    .......
    #####..
    .....#.
    .....#.
    .....#.
    ..###..
    .....#.
    ......#
    ......#
    .....#.
    #####..
    .......
    """,
    # 4
    """
    .......
    .....#.
    ....##.
    ...#.#.
    ..#..#.
    .#...#.
    #....#.
    #######
    .....#.
    .....#.
    .....#.
    .......
    """,
    # 5
    """
    .......
    ######.
    #......
    #......
    #####..
    .....#.
    ......#
    ......#
    ......#
    .....#.
    #####..
    .......
    """,
    # 6
    """
    .......
    ...##..
    ..#....
    .#.....
    #......
    #.###..
    ##...#.
    #.....#
    #.....#
    .#...#.
    ..###..
    .......
    """,
    # 7
    """
    .......
    #######
    ......#
    .....#.
    ....#..
    ...#...
    ...#...
    ..#....
    ..#....
    ..#....
    ..#....
    .......
    """,
    # 8
    """
    .......
    ..###..
    .#...#.
    .#...#.
    .#...#.
    ..###..
    .#...#.
    #.....#
    #.....#
    .#...#.
    ..###..
    .......
    """,
    # 9
    """
    .......
    ..###..
    .#...#.
    #.....#
    #.....#
    .#...##
    ..###.#
    ......#
    .....#.
    ....#..
    ..##...
    .......
    """,
)


def digit_bitmaps() -> torch.Tensor:
    """The ten prototypes as a ``(10, 12, 7)`` tensor of +1 (ink) and -1 (background)."""
    maps = []
    for art in _DIGITS:
        rows = [line.strip() for line in art.strip().splitlines()]
        if len(rows) != HEIGHT or any(len(r) != WIDTH for r in rows):
            raise AssertionError("every digit bitmap must be 12 rows of 7 characters")
        maps.append([[1.0 if ch == "#" else -1.0 for ch in row] for row in rows])
    return torch.tensor(maps)


def rbf_prototypes() -> torch.Tensor:
    """The bitmaps flattened row by row: ``(10, 84)``, the RBF units' fixed weights."""
    return digit_bitmaps().reshape(10, HEIGHT * WIDTH)
