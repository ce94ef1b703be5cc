import { useEffect, useRef, useState, type KeyboardEvent } from "react";
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

  const onKey = (e: KeyboardEvent<HTMLDivElement>) => {
    const map: Record<string, (g: GameState) => GameState> = {
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
    const action = map[e.key];
    if (e.key === "Enter" && (!game || game.over)) {
      e.preventDefault();
      start();
      return;
    }
    if (!action) return;
    // Keys used by the game never reach the mixer or scroll the page.
    e.preventDefault();
    e.stopPropagation();
    if (game && !game.over) setGame(action(game));
  };

  return (
    <section className="game" aria-label="Block game">
      <div
        ref={panel}
        className={`game-panel ${focused ? "focused" : ""}`}
        tabIndex={0}
        data-keyscope="game"
        data-testid="game-panel"
        onKeyDown={onKey}
        onFocus={() => setFocused(true)}
        onBlur={() => setFocused(false)}
      >
        <canvas ref={board} width={COLS * CELL} height={ROWS * CELL} className="game-board" />
        <div className="game-side">
          <h4>Blocks</h4>
          <canvas ref={preview} width={4 * CELL} height={3 * CELL} className="game-next" />
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
          {game && !game.over && !focused && <small className="muted">Paused — click the board</small>}
          {game?.over && <small>Game over</small>}
          <small className="muted">← → move · ↑/X rotate · Z back · ↓ soft · space drop</small>
        </div>
      </div>
    </section>
  );
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
