import { useEffect, useRef, useState, type KeyboardEvent, type PointerEvent } from "react";
import {
  cells,
  COLS,
  ghost,
  gravityMs,
  hardDrop,
  move,
  newGame,
  PIECE_COLOURS,
  PIECE_TYPES,
  rotate,
  ROWS,
  softDrop,
  spawn,
  tick,
  type GameState,
} from "../lib/blocks";
import { loadBestScore, saveBestScore } from "../lib/storage";

const CELL = 16;

/**
 * The "gamer_tag" side game, to play while a job runs. Keys only act while the panel has focus
 * (data-keyscope keeps space away from the mixer); it pauses when focus leaves.
 */
export function GamePanel() {
  const [game, setGame] = useState<GameState | null>(null);
  const [focused, setFocused] = useState(false);
  const [best, setBest] = useState(loadBestScore);
  const board = useRef<HTMLCanvasElement>(null);
  const preview = useRef<HTMLCanvasElement>(null);
  const panel = useRef<HTMLDivElement>(null);

  const running = !!game && !game.over && focused;

  useEffect(() => {
    if (!running || !game) return;
    const t = setInterval(() => setGame((g) => (g ? tick(g) : g)), gravityMs(game.level));
    return () => clearInterval(t);
  }, [running, game?.level]); // eslint-disable-line react-hooks/exhaustive-deps

  useEffect(() => {
    if (game && game.score > best) {
      setBest(game.score);
      saveBestScore(game.score);
    }
  }, [game, best]);

  useEffect(() => draw(board.current, preview.current, game), [game]);

  const start = () => {
    setGame(newGame());
    panel.current?.focus();
  };

  const act = (action: (g: GameState) => GameState) => setGame((g) => (g && !g.over ? action(g) : g));

  const onKey = (e: KeyboardEvent<HTMLDivElement>) => {
    // Enter / space on one of the touch buttons press that button.
    if (e.target instanceof HTMLButtonElement && (e.key === "Enter" || e.key === " ")) return;
    const action = KEYS[e.key];
    if (e.key === "Enter" && (!game || game.over)) {
      e.preventDefault();
      start();
      return;
    }
    if (!action) return;
    // Keys used by the game never reach the mixer or scroll the page.
    e.preventDefault();
    e.stopPropagation();
    act(action);
  };

  // A touch button keeps the focus on the panel (so the game keeps running and its keys keep working).
  const keepFocus = (e: PointerEvent<HTMLButtonElement>) => {
    e.preventDefault();
    if (!panel.current?.contains(document.activeElement)) panel.current?.focus();
  };

  return (
    <section className="game" aria-label="Block game">
      <div
        ref={panel}
        className={`game-panel ${focused ? "focused" : ""}`}
        tabIndex={0}
        data-keyscope="game"
        data-testid="game-panel"
        role="group"
        aria-label="Block game board: arrow keys move, up rotates, space drops"
        onKeyDown={onKey}
        onFocus={() => setFocused(true)}
        onBlur={(e) => {
          if (!e.currentTarget.contains(e.relatedTarget as Node | null)) setFocused(false);
        }}
      >
        <canvas ref={board} width={COLS * CELL} height={ROWS * CELL} className="game-board" role="img" aria-label={describe(game)} />
        <div className="game-side">
          <h4>Blocks</h4>
          <canvas ref={preview} width={4 * CELL} height={3 * CELL} className="game-next" role="img" aria-label={game ? `Next piece: ${game.next}` : "Next piece"} />
          <dl>
            <dt>Score</dt>
            <dd data-testid="game-score">{game?.score ?? 0}</dd>
            <dt>Lines</dt>
            <dd>{game?.lines ?? 0}</dd>
            <dt>Level</dt>
            <dd>{game?.level ?? 1}</dd>
            <dt>Best</dt>
            <dd data-testid="game-best">{best}</dd>
          </dl>
          {(!game || game.over) && (
            <button type="button" className="btn-small" onClick={start}>
              {game?.over ? "Play again" : "Play"}
            </button>
          )}
          {game && !game.over && !focused && <small className="muted">Paused — tap the board or a button</small>}
          {game?.over && <small>Game over</small>}
          <small className="muted game-keys">← → move · ↑/X rotate · Z back · ↓ soft · space drop</small>
        </div>
        <div className="game-pad" role="group" aria-label="Game controls">
          {PAD.map((b) => (
            <button
              key={b.label}
              type="button"
              aria-label={b.label}
              title={b.label}
              disabled={!game || game.over}
              data-testid={`game-${b.id}`}
              onPointerDown={keepFocus}
              onClick={() => act(b.action)}
            >
              {b.icon}
            </button>
          ))}
        </div>
      </div>
    </section>
  );
}

const KEYS: Record<string, (g: GameState) => GameState> = {
  ArrowLeft: (g) => move(g, -1),
  ArrowRight: (g) => move(g, 1),
  ArrowDown: softDrop,
  ArrowUp: (g) => rotate(g, 1),
  z: (g) => rotate(g, -1),
  Z: (g) => rotate(g, -1),
  x: (g) => rotate(g, 1),
  X: (g) => rotate(g, 1),
  " ": hardDrop,
};

/** The touch / pointer / screen-reader controls: the same moves as the keys. */
const PAD: { id: string; label: string; icon: string; action: (g: GameState) => GameState }[] = [
  { id: "left", label: "Move left", icon: "◀", action: KEYS.ArrowLeft },
  { id: "rotate", label: "Rotate", icon: "⟳", action: KEYS.ArrowUp },
  { id: "right", label: "Move right", icon: "▶", action: KEYS.ArrowRight },
  { id: "down", label: "Soft drop", icon: "▼", action: KEYS.ArrowDown },
  { id: "drop", label: "Hard drop", icon: "⤓", action: KEYS[" "] },
];

/** The board in words, for screen readers (the canvas is an image). */
function describe(game: GameState | null): string {
  if (!game) return "Block game board, not started";
  if (game.over) return `Game over, score ${game.score}`;
  const cols = cells(game.piece).map(([, c]) => c);
  const filled = game.board.filter((row) => row.some((v) => v)).length;
  return `${game.piece.type} piece at columns ${Math.min(...cols) + 1} to ${Math.max(...cols) + 1}; ${filled} of ${ROWS} rows hold blocks; score ${game.score}`;
}

function draw(canvas: HTMLCanvasElement | null, next: HTMLCanvasElement | null, game: GameState | null) {
  const ctx = canvas?.getContext("2d");
  if (!canvas || !ctx) return;
  ctx.fillStyle = "#111217";
  ctx.fillRect(0, 0, canvas.width, canvas.height);
  ctx.strokeStyle = "#1d1f27";
  for (let c = 0; c <= COLS; c++) {
    ctx.beginPath();
    ctx.moveTo(c * CELL + 0.5, 0);
    ctx.lineTo(c * CELL + 0.5, canvas.height);
    ctx.stroke();
  }
  if (!game) return;
  game.board.forEach((row, r) => row.forEach((v, c) => v && cell(ctx, r, c, PIECE_COLOURS[v])));
  const colour = PIECE_COLOURS[PIECE_TYPES.indexOf(game.piece.type) + 1];
  if (!game.over) {
    ctx.globalAlpha = 0.25;
    for (const [r, c] of cells(ghost(game))) if (r >= 0) cell(ctx, r, c, colour);
    ctx.globalAlpha = 1;
  }
  for (const [r, c] of cells(game.piece)) if (r >= 0) cell(ctx, r, c, colour);
  const nctx = next?.getContext("2d");
  if (next && nctx) {
    nctx.clearRect(0, 0, next.width, next.height);
    const p = { ...spawn(game.next), x: 0, y: game.next === "I" ? -1 : 0 };
    for (const [r, c] of cells(p)) cell(nctx, r + (game.next === "I" ? 1 : 0), c, PIECE_COLOURS[PIECE_TYPES.indexOf(game.next) + 1]);
  }
}

function cell(ctx: CanvasRenderingContext2D, r: number, c: number, colour: string) {
  ctx.fillStyle = colour;
  ctx.fillRect(c * CELL + 1, r * CELL + 1, CELL - 2, CELL - 2);
}
