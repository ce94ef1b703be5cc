// Rules of the "gamer_tag" side game: a block-dropping puzzle on a 10 x 20 board.
// Pure and deterministic (seeded 7-piece bag), so the rules are unit-tested.

export const COLS = 10;
export const ROWS = 20;

export type PieceType = "I" | "O" | "T" | "S" | "Z" | "J" | "L";
export const PIECE_TYPES: readonly PieceType[] = ["I", "O", "T", "S", "Z", "J", "L"];

/** Board cells: 0 = empty, 1..7 = colour index of the piece type that landed there. */
export type Board = number[][];

const SHAPES: Record<PieceType, number[][]> = {
  I: [
    [0, 0, 0, 0],
    [1, 1, 1, 1],
    [0, 0, 0, 0],
    [0, 0, 0, 0],
  ],
  O: [
    [1, 1],
    [1, 1],
  ],
  T: [
    [0, 1, 0],
    [1, 1, 1],
    [0, 0, 0],
  ],
  S: [
    [0, 1, 1],
    [1, 1, 0],
    [0, 0, 0],
  ],
  Z: [
    [1, 1, 0],
    [0, 1, 1],
    [0, 0, 0],
  ],
  J: [
    [1, 0, 0],
    [1, 1, 1],
    [0, 0, 0],
  ],
  L: [
    [0, 0, 1],
    [1, 1, 1],
    [0, 0, 0],
  ],
};

export const LINE_SCORES = [0, 100, 300, 500, 800];

export interface Piece {
  type: PieceType;
  rotation: number; // 0..3, clockwise quarter turns
  x: number; // column of the shape's top-left
  y: number; // row of the shape's top-left (may be negative while spawning)
}

export interface GameState {
  board: Board;
  piece: Piece;
  next: PieceType;
  bag: PieceType[];
  seed: number;
  score: number;
  lines: number;
  level: number;
  over: boolean;
}

export function emptyBoard(): Board {
  return Array.from({ length: ROWS }, () => new Array<number>(COLS).fill(0));
}

export function rotateMatrix(m: number[][]): number[][] {
  const n = m.length;
  return m.map((row, r) => row.map((_, c) => m[n - 1 - c][r]));
}

/** The occupied cells of a piece as [row, col] board coordinates. */
export function cells(piece: Piece): [number, number][] {
  let m = SHAPES[piece.type];
  for (let i = 0; i < ((piece.rotation % 4) + 4) % 4; i++) m = rotateMatrix(m);
  const out: [number, number][] = [];
  m.forEach((row, r) => row.forEach((v, c) => v && out.push([piece.y + r, piece.x + c])));
  return out;
}

export function collides(board: Board, piece: Piece): boolean {
  return cells(piece).some(([r, c]) => c < 0 || c >= COLS || r >= ROWS || (r >= 0 && board[r][c] !== 0));
}

/** mulberry32: a small seeded PRNG. Returns [value in 0..1, next seed]. */
export function random(seed: number): [number, number] {
  let t = (seed + 0x6d2b79f5) | 0;
  const next = t;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return [((t ^ (t >>> 14)) >>> 0) / 4294967296, next];
}

/** A shuffled bag of all seven pieces (Fisher-Yates with the seeded PRNG). */
export function shuffledBag(seed: number): [PieceType[], number] {
  const bag = [...PIECE_TYPES];
  let s = seed;
  for (let i = bag.length - 1; i > 0; i--) {
    const [r, ns] = random(s);
    s = ns;
    const j = Math.floor(r * (i + 1));
    [bag[i], bag[j]] = [bag[j], bag[i]];
  }
  return [bag, s];
}

function drawPiece(bag: PieceType[], seed: number): [PieceType, PieceType[], number] {
  let b = bag;
  let s = seed;
  if (!b.length) [b, s] = shuffledBag(s);
  return [b[0], b.slice(1), s];
}

export function spawn(type: PieceType): Piece {
  const width = SHAPES[type].length;
  return { type, rotation: 0, x: Math.floor((COLS - width) / 2), y: type === "I" ? -1 : 0 };
}

export function newGame(seed = Date.now() >>> 0): GameState {
  let [first, bag, s] = drawPiece([], seed);
  let next: PieceType;
  [next, bag, s] = drawPiece(bag, s);
  return { board: emptyBoard(), piece: spawn(first), next, bag, seed: s, score: 0, lines: 0, level: 1, over: false };
}

export function levelFor(lines: number): number {
  return 1 + Math.floor(lines / 10);
}

/** Milliseconds between gravity steps at a level. */
export function gravityMs(level: number): number {
  return Math.max(70, 800 - (level - 1) * 75);
}

export function move(state: GameState, dx: number): GameState {
  if (state.over) return state;
  const piece = { ...state.piece, x: state.piece.x + dx };
  return collides(state.board, piece) ? state : { ...state, piece };
}

/** Rotate with simple wall kicks (try in place, then shifted 1 and 2 columns either way, then up). */
export function rotate(state: GameState, dir: 1 | -1 = 1): GameState {
  if (state.over || state.piece.type === "O") return state;
  const rotated = { ...state.piece, rotation: (state.piece.rotation + dir + 4) % 4 };
  for (const [dx, dy] of [[0, 0], [1, 0], [-1, 0], [2, 0], [-2, 0], [0, -1]]) {
    const p = { ...rotated, x: rotated.x + dx, y: rotated.y + dy };
    if (!collides(state.board, p)) return { ...state, piece: p };
  }
  return state;
}

/** Remove full rows; returns the new board and how many rows were cleared. */
export function clearLines(board: Board): [Board, number] {
  const kept = board.filter((row) => row.some((v) => v === 0));
  const cleared = ROWS - kept.length;
  const fresh = Array.from({ length: cleared }, () => new Array<number>(COLS).fill(0));
  return [[...fresh, ...kept.map((r) => [...r])], cleared];
}

/** Fix the current piece on the board, clear lines, score, and bring in the next piece. */
export function lock(state: GameState): GameState {
  const board = state.board.map((r) => [...r]);
  const colour = PIECE_TYPES.indexOf(state.piece.type) + 1;
  let toppedOut = false;
  for (const [r, c] of cells(state.piece)) {
    if (r < 0) toppedOut = true;
    else board[r][c] = colour;
  }
  const [cleared, n] = clearLines(board);
  const lines = state.lines + n;
  const score = state.score + LINE_SCORES[n] * state.level;
  const [next, bag, seed] = drawPiece(state.bag, state.seed);
  const piece = spawn(state.next);
  const over = toppedOut || collides(cleared, piece);
  return { board: cleared, piece, next, bag, seed, score, lines, level: levelFor(lines), over };
}

/** One gravity step: fall one row, or lock when resting. */
export function tick(state: GameState): GameState {
  if (state.over) return state;
  const piece = { ...state.piece, y: state.piece.y + 1 };
  return collides(state.board, piece) ? lock(state) : { ...state, piece };
}

/** Soft drop: one row down, 1 point. */
export function softDrop(state: GameState): GameState {
  if (state.over) return state;
  const piece = { ...state.piece, y: state.piece.y + 1 };
  if (collides(state.board, piece)) return lock(state);
  return { ...state, piece, score: state.score + 1 };
}

export function dropDistance(state: GameState): number {
  let d = 0;
  while (!collides(state.board, { ...state.piece, y: state.piece.y + d + 1 })) d++;
  return d;
}

/** Hard drop: straight down and lock, 2 points per row. */
export function hardDrop(state: GameState): GameState {
  if (state.over) return state;
  const d = dropDistance(state);
  return lock({ ...state, piece: { ...state.piece, y: state.piece.y + d }, score: state.score + 2 * d });
}

/** Where the piece would land (drawn as a ghost). */
export function ghost(state: GameState): Piece {
  return { ...state.piece, y: state.piece.y + dropDistance(state) };
}

export const PIECE_COLOURS = ["transparent", "#34c6f4", "#f7d038", "#a95fd8", "#5ad25a", "#f0544f", "#4d7cf4", "#f79a3e"];
