// End-to-end harness: starts the real app (burntbeats serve, temp DATA_DIR, free port) and a real
// headless Chromium (Debian's /usr/bin/chromium through playwright-core; no browser download).

import { spawn } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

export const WEB_DIR = resolve(dirname(fileURLToPath(import.meta.url)), "..");
export const REPO_DIR = resolve(WEB_DIR, "..");
export const SCREENSHOTS = join(WEB_DIR, "screenshots");

export function freePort() {
  return new Promise((resolvePort, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address();
      srv.close(() => resolvePort(port));
    });
  });
}

function serverCommand() {
  const bin = process.env.BURNTBEATS_BIN ?? join(REPO_DIR, ".venv", "bin", "burntbeats");
  if (existsSync(bin)) return [bin, ["serve"]];
  const py = existsSync(join(REPO_DIR, ".venv", "bin", "python")) ? join(REPO_DIR, ".venv", "bin", "python") : "python3";
  return [py, ["-m", "burntbeats", "serve"]];
}

/** Start the app; resolves once /health answers. */
export async function startServer(extraEnv = {}) {
  if (!existsSync(join(WEB_DIR, "dist", "index.html"))) {
    throw new Error("web/dist is not built: run `npm run build` first.");
  }
  const port = await freePort();
  const dataDir = mkdtempSync(join(tmpdir(), "burntbeats-e2e-"));
  const [cmd, args] = serverCommand();
  const logs = [];
  const proc = spawn(cmd, [...args, "--host", "127.0.0.1", "--port", String(port)], {
    cwd: REPO_DIR,
    env: {
      ...process.env,
      DATA_DIR: dataDir,
      SECRET_KEY: "e2e-secret",
      JOB_CONCURRENCY: process.env.JOB_CONCURRENCY ?? "2",
      ...extraEnv,
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  proc.stdout.on("data", (d) => logs.push(String(d)));
  proc.stderr.on("data", (d) => logs.push(String(d)));
  const base = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 90_000;
  for (;;) {
    if (proc.exitCode !== null) throw new Error(`the server exited (${proc.exitCode}):\n${logs.join("")}`);
    try {
      const r = await fetch(`${base}/health`);
      if (r.ok) break;
    } catch {
      /* not up yet */
    }
    if (Date.now() > deadline) {
      proc.kill("SIGTERM");
      throw new Error(`the server did not start in 90 s:\n${logs.join("")}`);
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  return {
    base,
    port,
    dataDir,
    logs,
    async stop() {
      if (proc.exitCode === null) {
        proc.kill("SIGTERM");
        await Promise.race([new Promise((r) => proc.once("exit", r)), new Promise((r) => setTimeout(r, 10_000))]);
        if (proc.exitCode === null) proc.kill("SIGKILL");
      }
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

export const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";

/** Content-Security-Policy violations seen by a page: Chromium logs "Refused to ..." and fires an event. */
function watchCsp(context, violations) {
  context.on("console", (msg) => {
    const text = msg.text();
    if (/Refused to |Content Security Policy|CSP violation/.test(text)) violations.push(text);
  });
  return context.addInitScript(() => {
    document.addEventListener("securitypolicyviolation", (e) =>
      console.error(`CSP violation: ${e.violatedDirective} blocked ${e.blockedURI || "inline"} (${e.sourceFile}:${e.lineNumber})`),
    );
  });
}

/** Chromium, headless. Every context it makes watches for CSP violations; close() fails if there were any. */
export async function launchBrowser() {
  const browser = await launchChromium();
  const violations = [];
  const newContext = browser.newContext.bind(browser);
  browser.newContext = async (...args) => {
    const context = await newContext(...args);
    await watchCsp(context, violations);
    return context;
  };
  browser.newPage = async (...args) => (await browser.newContext(...args)).newPage();
  browser.cspViolations = violations;
  const close = browser.close.bind(browser);
  browser.close = async (...args) => {
    await close(...args);
    if (violations.length) {
      throw new Error(`the page broke its Content-Security-Policy ${violations.length} time(s):\n${[...new Set(violations)].join("\n")}`);
    }
  };
  return browser;
}

async function launchChromium() {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`Chromium not found at ${CHROMIUM}: install it with \`apt-get install -y chromium\` (or set CHROMIUM_PATH).`);
  }
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      "--autoplay-policy=no-user-gesture-required",
    ],
  });
}

export function screenshotPath(name) {
  const path = join(SCREENSHOTS, name);
  mkdirSync(dirname(path), { recursive: true });
  return path;
}

/** The phone and desktop sizes every page is checked at (the phone one with touch, as a phone has). */
export const PHONE = { viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true, deviceScaleFactor: 1 };
export const DESKTOP = { viewport: { width: 1440, height: 900 } };

let axeSource;
/**
 * Run axe-core (the npm package, injected over the DevTools protocol, so the page's CSP stays as it is)
 * on the page; resolves with its serious and critical violations, each as "rule: target (summary)".
 */
export async function axeViolations(page) {
  axeSource ??= readFileSync(createRequire(import.meta.url).resolve("axe-core/axe.min.js"), "utf8");
  if (!(await page.evaluate(() => typeof window.axe === "object"))) {
    await page.evaluate(`(() => { ${axeSource}\n })()`);
  }
  const result = await page.evaluate(() => window.axe.run(document, { resultTypes: ["violations"] }));
  return result.violations
    .filter((v) => v.impact === "serious" || v.impact === "critical")
    .flatMap((v) => v.nodes.map((n) => `${v.id} (${v.impact}): ${n.target.join(" ")} — ${n.failureSummary?.split("\n").slice(0, 2).join(" ")}`));
}

/**
 * A screenshot of the whole page. Playwright's fullPage capture drops the touch emulation while it captures
 * (a phone page would be drawn with mouse-sized controls), so the viewport is made as tall as the page instead.
 */
export async function pageShot(page, name) {
  const size = page.viewportSize();
  const height = await page.evaluate(() => document.documentElement.scrollHeight);
  if (height > size.height) await page.setViewportSize({ width: size.width, height });
  try {
    await page.screenshot({ path: screenshotPath(name) });
  } finally {
    if (height > size.height) await page.setViewportSize(size);
  }
}

/** How far the document scrolls sideways (0 = not at all): the layout viewport against everything on the page. */
export function sideScroll(page) {
  return page.evaluate(() => {
    const doc = document.documentElement;
    return Math.max(doc.scrollWidth, document.body.scrollWidth) - doc.clientWidth;
  });
}

export function tempFile(name, bytes) {
  const dir = mkdtempSync(join(tmpdir(), "burntbeats-e2e-files-"));
  const path = join(dir, name);
  writeFileSync(path, bytes);
  return path;
}

/** A 16-bit PCM WAV from per-channel float arrays. */
export function wavBytes(channels, sampleRate) {
  const n = channels[0].length;
  const nch = channels.length;
  const data = Buffer.alloc(44 + n * nch * 2);
  data.write("RIFF", 0);
  data.writeUInt32LE(36 + n * nch * 2, 4);
  data.write("WAVE", 8);
  data.write("fmt ", 12);
  data.writeUInt32LE(16, 16);
  data.writeUInt16LE(1, 20);
  data.writeUInt16LE(nch, 22);
  data.writeUInt32LE(sampleRate, 24);
  data.writeUInt32LE(sampleRate * nch * 2, 28);
  data.writeUInt16LE(nch * 2, 32);
  data.writeUInt16LE(16, 34);
  data.write("data", 36);
  data.writeUInt32LE(n * nch * 2, 40);
  const pcm = new Int16Array(data.buffer, data.byteOffset + 44, n * nch); // little-endian, as every host we run on
  for (let i = 0; i < n; i++) {
    for (let c = 0; c < nch; c++) pcm[i * nch + c] = Math.round(Math.max(-1, Math.min(1, channels[c][i])) * 32767);
  }
  return data;
}

/** A little "song": a bass line, a chord pad, a melody and noise-burst drums (stereo). */
export function makeSong(seconds = 6, sampleRate = 44100) {
  const n = Math.round(seconds * sampleRate);
  const left = new Float32Array(n);
  const right = new Float32Array(n);
  let seed = 12345;
  const rnd = () => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff) * 2 - 1;
  const hz = (p) => 440 * 2 ** ((p - 69) / 12);
  const bass = [36, 36, 43, 41];
  const melody = [72, 74, 76, 79, 76, 74, 72, 67];
  for (let i = 0; i < n; i++) {
    const t = i / sampleRate;
    const beat = t * 2; // 120 bpm
    const b = hz(bass[Math.floor(beat / 2) % bass.length]);
    const m = hz(melody[Math.floor(beat) % melody.length]);
    const env = Math.exp(-(beat % 1) * 3);
    const kick = Math.exp(-(beat % 1) * 25) * Math.sin(2 * Math.PI * 55 * t);
    const hat = (Math.floor(beat * 2) % 2 === 1 ? Math.exp(-((beat * 2) % 1) * 40) : 0) * rnd();
    const bassV = 0.25 * Math.sin(2 * Math.PI * b * t);
    const pad = 0.06 * (Math.sin(2 * Math.PI * hz(60) * t) + Math.sin(2 * Math.PI * hz(64) * t) + Math.sin(2 * Math.PI * hz(67) * t));
    const mel = 0.18 * env * (Math.sin(2 * Math.PI * m * t) + 0.3 * Math.sin(4 * Math.PI * m * t));
    left[i] = bassV + 0.35 * kick + 0.12 * hat + pad + 0.8 * mel;
    right[i] = bassV + 0.35 * kick + 0.08 * hat + pad * 0.8 + 1.0 * mel;
  }
  return wavBytes([left, right], sampleRate);
}

/** A clear monophonic melody (for audio -> MIDI): C4 E4 G4 C5 ... as sine tones with short gaps. */
export function makeMelody(pitches = [60, 64, 67, 72, 67, 64, 60, 62], noteS = 0.5, sampleRate = 22050) {
  const n = Math.round(pitches.length * noteS * sampleRate + sampleRate * 0.5);
  const mono = new Float32Array(n);
  pitches.forEach((p, k) => {
    const f = 440 * 2 ** ((p - 69) / 12);
    const from = Math.round(k * noteS * sampleRate);
    const len = Math.round(noteS * 0.85 * sampleRate);
    for (let i = 0; i < len; i++) {
      const env = Math.min(1, i / 200) * Math.min(1, (len - i) / 400);
      mono[from + i] += 0.5 * env * (Math.sin((2 * Math.PI * f * i) / sampleRate) + 0.2 * Math.sin((4 * Math.PI * f * i) / sampleRate));
    }
  });
  return wavBytes([mono], sampleRate);
}

/** Poll fn until it returns a truthy value. */
export async function until(fn, { timeout = 60_000, interval = 250, what = "condition" } = {}) {
  const deadline = Date.now() + timeout;
  let last;
  for (;;) {
    try {
      last = await fn();
      if (last) return last;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what} (last: ${last})`);
    await new Promise((r) => setTimeout(r, interval));
  }
}
