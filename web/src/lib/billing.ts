// Plans and usage tokens (USAGE_TOKENS_ENABLED on the server): the plan table, the caller's balance, what a job
// would cost (the quote), the ledger, Stripe checkout / portal links. With metering off none of it shows.

import { useEffect, useState } from "react";
import { api, type Schemas } from "./api";
import { useLocation } from "./router";

export type Plans = Schemas["PlansPublic"];
export type Plan = Schemas["PlanPublic"];
export type Balance = Schemas["BalancePublic"];
export type Quote = Schemas["QuotePublic"];
export type LedgerPage = Schemas["LedgerPagePublic"];
export type LedgerEntry = Schemas["LedgerEntryPublic"];

const CHANGED = "burntbeats:balance";
const REFRESH_MS = 15_000;

export function getPlans(): Promise<Plans> {
  return api("/api/plans");
}

export function getBalance(signal?: AbortSignal): Promise<Balance> {
  return api("/api/billing/balance", { signal });
}

export function getLedger(before?: number | null): Promise<LedgerPage> {
  return api(`/api/billing/ledger?limit=25${before ? `&before=${before}` : ""}`);
}

export interface QuoteAsk {
  kind: string;
  duration_s?: number | null;
  stems?: number;
  quality?: string;
  count?: number;
}

export function getQuote(ask: QuoteAsk, signal?: AbortSignal): Promise<Quote> {
  const q = new URLSearchParams({ kind: ask.kind, count: String(ask.count ?? 1) });
  if (ask.duration_s != null) q.set("duration_s", String(Math.round(ask.duration_s * 1000) / 1000));
  if (ask.stems != null) q.set("stems", String(ask.stems));
  if (ask.quality) q.set("quality", ask.quality);
  return api(`/api/billing/quote?${q}`, { signal });
}

/** Tell every balance shown to read it again (after a submission, a purchase...). */
export function balanceChanged(): void {
  window.dispatchEvent(new Event(CHANGED));
}

/** The caller's balance (null until known, or when the server does not answer it, e.g. signed out); re-read on
 * navigation, on balanceChanged(), and every 15 s while the page is visible. */
export function useBalance(enabled = true): Balance | null {
  const [balance, setBalance] = useState<Balance | null>(null);
  const { path } = useLocation();
  const [tick, setTick] = useState(0);
  useEffect(() => {
    const bump = () => setTick((t) => t + 1);
    const timer = window.setInterval(() => document.visibilityState === "visible" && bump(), REFRESH_MS);
    window.addEventListener(CHANGED, bump);
    window.addEventListener("focus", bump);
    return () => {
      window.clearInterval(timer);
      window.removeEventListener(CHANGED, bump);
      window.removeEventListener("focus", bump);
    };
  }, []);
  useEffect(() => {
    if (!enabled) {
      setBalance(null);
      return;
    }
    const ctrl = new AbortController();
    getBalance(ctrl.signal).then(setBalance, () => setBalance(null));
    return () => ctrl.abort();
  }, [enabled, path, tick]);
  return balance;
}

/** The quote for `ask` (null while unknown); re-asked whenever it changes. */
export function useQuote(ask: QuoteAsk | null): { quote: Quote | null; error: unknown } {
  const [quote, setQuote] = useState<Quote | null>(null);
  const [error, setError] = useState<unknown>(null);
  const key = ask ? JSON.stringify(ask) : "";
  useEffect(() => {
    setQuote(null);
    setError(null);
    if (!ask) return;
    const ctrl = new AbortController();
    getQuote(ask, ctrl.signal).then(setQuote, (err) => {
      if (!ctrl.signal.aborted) setError(err);
    });
    return () => ctrl.abort();
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [key]);
  return { quote, error };
}

/** A file's length in seconds as the browser reads it (null when it cannot: the server still measures it). */
export function audioDuration(file: File): Promise<number | null> {
  return new Promise((resolve) => {
    const url = URL.createObjectURL(file);
    const media = document.createElement(file.type.startsWith("video/") ? "video" : "audio");
    const done = (value: number | null) => {
      URL.revokeObjectURL(url);
      media.removeAttribute("src");
      resolve(value);
    };
    const timer = window.setTimeout(() => done(null), 10_000);
    media.preload = "metadata";
    media.onloadedmetadata = () => {
      window.clearTimeout(timer);
      done(Number.isFinite(media.duration) && media.duration > 0 ? media.duration : null);
    };
    media.onerror = () => {
      window.clearTimeout(timer);
      done(null);
    };
    media.src = url;
  });
}

/** The summed length of several files (null if any cannot be read). */
export async function totalDuration(files: File[]): Promise<number | null> {
  const all = await Promise.all(files.map(audioDuration));
  return all.some((d) => d == null) ? null : (all as number[]).reduce((a, b) => a + b, 0);
}

export async function startCheckout(item: { plan: string } | { pack: string }): Promise<void> {
  const { url } = await api<Schemas["CheckoutPublic"]>("/api/billing/checkout", { json: item });
  window.location.assign(url);
}

export async function openPortal(): Promise<void> {
  const { url } = await api<Schemas["PortalPublic"]>("/api/billing/portal", { method: "POST" });
  window.location.assign(url);
}

export function changePlan(plan: string): Promise<Schemas["PlanChangePublic"]> {
  return api("/api/billing/plan", { json: { plan } });
}

/** "10:00" for 600 s. */
export function minutes(seconds: number): string {
  const s = Math.round(seconds);
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
}

export function hoursLabel(hours: number): string {
  return hours >= 48 ? `${Math.round(hours / 24)} days` : `${Math.round(hours)} h`;
}
