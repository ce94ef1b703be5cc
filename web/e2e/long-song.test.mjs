// A 4-minute song in the mixer over a slow link: the first sound comes before the stems' playback files are
// downloaded (the mixer streams 5-s Opus segments, never a WAV), the stems stay in sync, and the page's JS
// heap stays under 300 MB. The numbers are printed (node --test shows them).
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { launchBrowser, makeSong, screenshotPath, startServer, until } from "./harness.mjs";

const SECONDS = 240;
const LINK_BYTES_PER_S = 1_500_000; // ~12 Mbit/s: the four renditions of 4 min take ~10 s to arrive
const HEAP_LIMIT = 300 * 1024 * 1024;

let server;
let browser;
let page;
let cdp;
let job;
let song;
const requests = [];
const pageErrors = [];

/** The harness's song, 8 s of it repeated: a 4-minute WAV in a fraction of a second (synthesising it takes ~10 s). */
function longSong(seconds) {
  const bar = makeSong(8);
  const data = bar.subarray(44);
  const repeats = Math.ceil(seconds / 8);
  const wav = Buffer.concat([bar.subarray(0, 44), ...Array(repeats).fill(data)]);
  wav.writeUInt32LE(36 + data.length * repeats, 4);
  wav.writeUInt32LE(data.length * repeats, 40);
  return wav;
}

before(async () => {
  song = longSong(SECONDS);
  server = await startServer();
  browser = await launchBrowser();
  const context = await browser.newContext({ viewport: { width: 1440, height: 900 } });
  page = await context.newPage();
  page.on("pageerror", (err) => pageErrors.push(String(err)));
  page.on("request", (r) => requests.push(r.url()));
  cdp = await context.newCDPSession(page);
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

async function heap() {
  const usage = await cdp.send("Runtime.getHeapUsage");
  return { used: usage.usedSize, total: usage.totalSize, backing: usage.backingStorageSize ?? 0, embedder: usage.embedderHeapUsedSize ?? 0 };
}

const mb = (n) => `${(n / 1024 / 1024).toFixed(1)} MB`;

describe("a 4-minute song", () => {
  test("split it (API, 4 stems, fast)", async () => {
    const upload = () => {
      const form = new FormData();
      form.append("file", new Blob([song], { type: "audio/wav" }), "long song.wav");
      form.append("stems", "4");
      form.append("quality", "fast");
      return fetch(`${server.base}/api/stems/split`, { method: "POST", body: form });
    };
    // A connection the server closed while idle (keep-alive) fails the first write: send it again once.
    const resp = await upload().catch(upload);
    const accepted = await resp.json();
    assert.ok(accepted.job_id, JSON.stringify(accepted));
    job = await until(async () => {
      const s = await (await fetch(`${server.base}${accepted.status_url}`, { headers: { "X-Job-Token": accepted.job_token } })).json();
      assert.notEqual(s.status, "failed", s.error);
      return s.status === "succeeded" ? { ...s, token: accepted.job_token } : null;
    }, { timeout: 300_000, interval: 1000, what: "the 4-minute split" });
    assert.ok(Math.abs(job.result.duration_s - SECONDS) < 0.1);
  });

  test("over a slow link, the first sound comes before the stems are downloaded; the heap stays small", async () => {
    await cdp.send("Network.enable");
    await cdp.send("Network.emulateNetworkConditions", {
      offline: false, latency: 20, downloadThroughput: LINK_BYTES_PER_S, uploadThroughput: LINK_BYTES_PER_S,
    });
    await page.goto(`${server.base}/stems/${job.job_id}?token=${job.token}`);
    await page.locator('[data-testid="mixer"][data-ready="true"]').waitFor({ timeout: 60_000 });
    await page.click('[data-testid="play"]');
    // The first time the master carries sound (the analyser), and how much of the renditions was in by then.
    const first = await page.evaluate(
      () =>
        new Promise((resolve) => {
          const tick = () => {
            const m = window.__mixer;
            if (m && m.engine.meter().peak > 0.001) {
              const s = m.snapshot();
              const stems = Object.values(s.stems);
              resolve({ at: performance.now(), received: stems.reduce((n, x) => n + x.received, 0), bytes: stems.reduce((n, x) => n + x.bytes, 0) });
            } else requestAnimationFrame(tick);
          };
          tick();
        }),
    );
    console.log(`first sound with ${mb(first.received)} of ${mb(first.bytes)} of the renditions in`);
    assert.ok(first.received < first.bytes * 0.5, `playback started before the stems were downloaded (${first.received} / ${first.bytes})`);
    const sync = (await page.evaluate(() => window.__mixer.snapshot())).lastStart;
    assert.equal(sync.sources, 4);
    assert.equal(new Set(sync.startTimes).size, 1, "every stem starts on the same frame");

    // Seek far ahead of what has arrived: that segment is fetched on its own and playback goes on.
    await page.evaluate(() => window.__mixer.engine.seek(200));
    await until(async () => {
      const s = await page.evaluate(() => window.__mixer.snapshot());
      return s.playing && !s.buffering && s.position > 200.5 ? s : null;
    }, { timeout: 30_000, what: "playback after a seek to 3:20" });
    const during = await heap();

    // All four renditions arrive; the playback files finished after the first sound; no WAV was fetched.
    const done = await until(async () => {
      const s = await page.evaluate(() => window.__mixer.snapshot());
      return Object.values(s.stems).every((x) => x.received === x.bytes) ? s : null;
    }, { timeout: 120_000, interval: 500, what: "the renditions to arrive" });
    const ends = await page.evaluate(() =>
      performance.getEntriesByType("resource").filter((e) => e.name.includes("/playback-file/")).map((e) => e.responseEnd),
    );
    assert.ok(ends.length >= 4 && Math.max(...ends) > first.at, `downloads ended at ${ends.map(Math.round)} ms, first sound at ${Math.round(first.at)} ms`);
    assert.deepEqual(requests.filter((u) => /\/api\/stems\/file\/.*\.wav/.test(u)), [], "the mixer fetched no WAV");
    assert.ok(done.playing && done.position > 200, "still playing");
    await page.screenshot({ path: screenshotPath("mixer-long-song.png") });

    await page.evaluate(() => window.__mixer.engine.pause());
    await cdp.send("HeapProfiler.collectGarbage");
    const settled = await heap();
    const perfMem = await page.evaluate(() => performance.memory?.usedJSHeapSize ?? null);
    console.log(`JS heap while playing: ${mb(during.used)} used (${mb(during.backing)} array buffers); after: ${mb(settled.used)} used, `
      + `${mb(settled.backing)} array buffers, performance.memory ${perfMem === null ? "n/a" : mb(perfMem)}; `
      + `renditions ${mb(done.stems.vocals.bytes * 4)} in all`);
    for (const h of [during, settled]) assert.ok(h.used + h.backing < HEAP_LIMIT, `heap ${mb(h.used)} + ${mb(h.backing)} < 300 MB`);
    await cdp.send("Network.emulateNetworkConditions", { offline: false, latency: 0, downloadThroughput: -1, uploadThroughput: -1 });
  });

  test("no uncaught errors in the page", () => {
    assert.deepEqual(pageErrors, []);
  });
});
