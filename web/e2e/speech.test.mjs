// Clean speech: upload a noisy recording, wait, A/B the original against the enhanced file, download.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { launchBrowser, screenshotPath, startServer, tempFile, until, wavBytes } from "./harness.mjs";

let server;
let browser;
let page;
const pageErrors = [];

/** A voice-like harmonic tone with a vibrato and syllable envelope, plus steady noise. */
function noisyVoice(seconds = 4, sampleRate = 16000) {
  const n = seconds * sampleRate;
  const x = new Float32Array(n);
  let seed = 7;
  const rnd = () => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff) * 2 - 1;
  let phase = 0;
  for (let i = 0; i < n; i++) {
    const t = i / sampleRate;
    const f0 = 140 + 20 * Math.sin(2 * Math.PI * 0.7 * t) + 5 * Math.sin(2 * Math.PI * 5 * t);
    phase += (2 * Math.PI * f0) / sampleRate;
    const syllable = Math.max(0, Math.sin(2 * Math.PI * 2.2 * t)) ** 2;
    let v = 0;
    for (let h = 1; h <= 12; h++) v += Math.sin(h * phase) / h;
    x[i] = 0.25 * syllable * v + 0.08 * rnd();
  }
  return wavBytes([x], sampleRate);
}

before(async () => {
  server = await startServer();
  browser = await launchBrowser();
  const context = await browser.newContext({ acceptDownloads: true, viewport: { width: 1280, height: 800 } });
  page = await context.newPage();
  page.on("pageerror", (err) => pageErrors.push(String(err)));
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

describe("speech: enhance and A/B", () => {
  test("upload, wait, A/B switch, download links", async () => {
    await page.goto(server.base + "/speech");
    await page.setInputFiles('[data-testid="speech-drop-input"]', tempFile("interview.wav", noisyVoice()));
    await page.selectOption('[data-testid="speech-engine"]', "fast");
    await page.click('[data-testid="speech-submit"]');
    await page.waitForURL(/\/speech\?job=/, { timeout: 60_000 });
    await page.locator('[data-testid="ab-player"][data-ready="true"]').waitFor({ timeout: 240_000 });
    const gains = async () => Object.fromEntries(Object.entries((await page.evaluate(() => window.__abPlayer.snapshot())).stems).map(([k, v]) => [k, v.gain]));
    assert.deepEqual(await gains(), { original: 0, enhanced: 1 });
    await page.click('[data-testid="ab-play"]');
    await until(async () => (await page.evaluate(() => window.__abPlayer.snapshot())).position > 0.2, { what: "A/B playback" });
    await page.click('[data-testid="ab-original"]');
    assert.deepEqual(await gains(), { original: 1, enhanced: 0 });
    const snap = await page.evaluate(() => window.__abPlayer.snapshot());
    assert.ok(snap.playing, "switching keeps playing");
    assert.equal(new Set(snap.lastStart.startTimes).size, 1);
    await page.screenshot({ path: screenshotPath("speech.png"), fullPage: true });
    const links = await page.$$eval('[data-testid="speech-downloads"] a', (as) => as.map((a) => a.getAttribute("href")));
    assert.ok(links.some((h) => h.includes("/enhanced.wav")));
    const resp = await fetch(server.base + links.find((h) => h.includes("/enhanced.wav")));
    assert.equal(resp.status, 200);
  });

  test("no uncaught errors in the page", () => {
    assert.deepEqual(pageErrors, []);
  });
});
