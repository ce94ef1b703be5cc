import { describe, expect, it } from "vitest";
import {
  cells,
  clearLines,
  COLS,
  collides,
  emptyBoard,
  gravityMs,
  hardDrop,
  levelFor,
  lock,
  move,
  newGame,
  PIECE_TYPES,
  rotate,
  ROWS,
  shuffledBag,
  softDrop,
  spawn,
  tick,
  type GameState,
} from "./blocks";

function withPiece(state: GameState, type: GameState["piece"]["type"], x?: number): GameState {
  const piece = spawn(type);
  return { ...state, piece: { ...piece, x: x ?? piece.x } };
}

describe("pieces and bag", () => {
  it("every piece has four cells and spawns inside the board", () => {
    for (const t of PIECE_TYPES) {
      const c = cells(spawn(t));
      expect(c).toHaveLength(4);
      expect(collides(emptyBoard(), spawn(t))).toBe(false);
    }
  });

  it("deals each of the seven pieces once per bag, deterministically", () => {
    const [bag] = shuffledBag(42);
    expect([...bag].sort()).toEqual([...PIECE_TYPES].sort());
    expect(shuffledBag(42)[0]).toEqual(bag);
    expect(newGame(7)).toEqual(newGame(7));
  });

  it("rotating four times gets back the same cells", () => {
    const g = withPiece(newGame(1), "T");
    const r4 = rotate(rotate(rotate(rotate(g))));
    expect(cells(r4.piece).sort()).toEqual(cells(g.piece).sort());
    expect(cells(rotate(g).piece).sort()).not.toEqual(cells(g.piece).sort());
  });
});

describe("movement", () => {
  it("stops at the walls", () => {
    let g = withPiece(newGame(1), "O");
    for (let i = 0; i < 20; i++) g = move(g, -1);
    expect(Math.min(...cells(g.piece).map(([, c]) => c))).toBe(0);
    for (let i = 0; i < 20; i++) g = move(g, 1);
    expect(Math.max(...cells(g.piece).map(([, c]) => c))).toBe(COLS - 1);
  });

  it("kicks off the wall when rotating", () => {
    let g = withPiece(newGame(1), "I");
    g = rotate(g); // vertical
    for (let i = 0; i < 20; i++) g = move(g, 1);
    const rotated = rotate(g);
    expect(rotated).not.toBe(g);
    expect(collides(rotated.board, rotated.piece)).toBe(false);
  });

  it("hard drop lands on the floor and scores 2 per row", () => {
    const g = withPiece(newGame(3), "O");
    const dropped = hardDrop(g);
    expect(dropped.board[ROWS - 1].filter(Boolean)).toHaveLength(2);
    expect(dropped.board[ROWS - 2].filter(Boolean)).toHaveLength(2);
    expect(dropped.score).toBe(2 * (ROWS - 2));
  });

  it("soft drop scores 1 and gravity locks a resting piece", () => {
    let g = withPiece(newGame(3), "O");
    g = softDrop(g);
    expect(g.score).toBe(1);
    for (let i = 0; i < ROWS; i++) g = tick(g);
    expect(g.board[ROWS - 1].some(Boolean)).toBe(true);
  });
});

describe("lines, score, level, game over", () => {
  it("clears full rows and shifts the rest down", () => {
    const board = emptyBoard();
    board[ROWS - 1] = new Array(COLS).fill(1);
    board[ROWS - 2] = new Array(COLS).fill(2);
    board[ROWS - 3][0] = 3;
    const [out, n] = clearLines(board);
    expect(n).toBe(2);
    expect(out[ROWS - 1][0]).toBe(3);
    expect(out).toHaveLength(ROWS);
  });

  it("scores line clears times the level", () => {
    const g0 = newGame(5);
    const board = emptyBoard();
    // bottom row full except the two middle-left columns an O piece fills
    board[ROWS - 1] = new Array(COLS).fill(1);
    board[ROWS - 2] = new Array(COLS).fill(1);
    const o = spawn("O");
    board[ROWS - 1][o.x] = board[ROWS - 1][o.x + 1] = 0;
    board[ROWS - 2][o.x] = board[ROWS - 2][o.x + 1] = 0;
    const g = { ...g0, board, piece: o, level: 3, lines: 28 };
    const after = lock({ ...g, piece: { ...o, y: ROWS - 2 } });
    expect(after.lines).toBe(30);
    expect(after.score).toBe(300 * 3);
    expect(after.level).toBe(4);
    expect(after.board[ROWS - 1].every((v) => v === 0)).toBe(true);
  });

  it("levels up every 10 lines and falls faster", () => {
    expect(levelFor(0)).toBe(1);
    expect(levelFor(19)).toBe(2);
    expect(gravityMs(5)).toBeLessThan(gravityMs(1));
    expect(gravityMs(99)).toBeGreaterThan(0);
  });

  it("ends when a new piece cannot spawn", () => {
    const g0 = newGame(9);
    const board = emptyBoard();
    // The middle columns are stacked to the top (no row is full): the next piece has no room.
    for (let r = 0; r < ROWS; r++) for (let c = 2; c < 8; c++) board[r][c] = 1;
    const g = lock({ ...g0, board, piece: { ...spawn("O"), x: 0, y: 0 } });
    expect(g.over).toBe(true);
    expect(move(g, 1)).toBe(g);
  });
});
