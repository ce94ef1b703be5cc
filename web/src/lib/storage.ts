// Everything the app keeps in localStorage: job tokens, per-job mixer settings, the game's best score.

import type { MixState } from "./mixer";

const PREFIX = "burntbeats:";

function read<T>(key: string): T | null {
  try {
    const raw = globalThis.localStorage?.getItem(PREFIX + key);
    return raw ? (JSON.parse(raw) as T) : null;
  } catch {
    return null;
  }
}

function write(key: string, value: unknown): void {
  try {
    globalThis.localStorage?.setItem(PREFIX + key, JSON.stringify(value));
  } catch {
    /* storage full or disabled: settings just are not kept */
  }
}

export function rememberToken(jobId: string, token: string): void {
  const tokens = read<Record<string, string>>("tokens") ?? {};
  tokens[jobId] = token;
  const keys = Object.keys(tokens);
  // Keep the newest 500.
  for (const k of keys.slice(0, Math.max(0, keys.length - 500))) delete tokens[k];
  write("tokens", tokens);
}

export function tokenFor(jobId: string): string | null {
  return read<Record<string, string>>("tokens")?.[jobId] ?? null;
}

export function loadMix(jobId: string): Partial<MixState> | null {
  return read<Partial<MixState>>(`mix:${jobId}`);
}

export function saveMix(jobId: string, mix: MixState): void {
  write(`mix:${jobId}`, mix);
}

export function loadBestScore(): number {
  return Number(read<number>("game:best") ?? 0) || 0;
}

export function saveBestScore(score: number): void {
  write("game:best", score);
}
