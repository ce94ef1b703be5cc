// Split -> mixer -> export, in real headless Chromium against the real app.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { after, before, describe, test } from "node:test";
import { unzipSync } from "fflate";
import { launchBrowser, makeSong, screenshotPath, startServer, tempFile, until } from "./harness.mjs";

let server;
let browser;
let page;
let jobUrl;
const pageErrors = [];

const STEMS = ["vocals", "drums", "bass", "other"];

before(async () => {
  server = await startServer();
  browser = await launchBrowser();
  const context = await browser.newContext({ acceptDownloads: true, viewport: { width: 1280, height: 900 } });
  page = await context.newPage();
  page.on("pageerror", (err) => pageErrors.push(String(err)));
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

async function snapshot() {
  return page.evaluate(() => window.__mixer?.snapshot());
}

describe("stems: split, mix, export", () => {
  test("an API error is shown next to the upload control", async () => {
    await page.goto(server.base + "/");
    const bogus = tempFile("notes.wav", Buffer.from("this is not audio at all, just text pretending to be a wav file"));
    await page.setInputFiles('[data-testid="split-drop-input"]', bogus);
    await page.click('[data-testid="split-submit"]');
    const err = page.locator('[data-testid="split-error"]');
    await err.waitFor({ timeout: 30_000 });
    const text = (await err.textContent()) ?? "";
    assert.ok(text.length > 10 && !text.includes("{"), `readable error sentence, got: ${text}`);
  });

  test("upload a generated WAV, 4 stems, fast; the job finishes", async () => {
    await page.goto(server.base + "/");
    const song = tempFile("e2e song.wav", makeSong(6));
    await page.setInputFiles('[data-testid="split-drop-input"]', song);
    await page.locator('[data-testid="file-chosen"]').waitFor();
    await page.check('[data-testid="stems-4"]');
    await page.selectOption('[data-testid="quality"]', "fast");
    assert.match(await page.textContent('[data-testid="quality"] option[value="fast"]'), /DSP engine/, "the menu comes from /api/stems/modes");
    await page.click('[data-testid="split-submit"]');
    await page.waitForURL(/\/stems\/[0-9a-f]+$/, { timeout: 60_000 });
    jobUrl = page.url();
    await page.locator('[data-testid="stems-job"][data-status="succeeded"]').waitFor({ timeout: 180_000 });
    // The header says which engine ran (the quality menu said it beforehand).
    assert.match(await page.textContent('[data-testid="job-engine"]'), /DSP/);
  });

  test("N waveforms are drawn", async () => {
    await page.locator('[data-testid="mixer"][data-ready="true"]').waitFor({ timeout: 60_000 });
    for (const name of STEMS) {
      await page.locator(`[data-testid="waveform-${name}"][data-drawn="true"]`).waitFor({ timeout: 30_000 });
    }
    // The canvases wavesurfer draws (in its shadow root) really have ink on them.
    const inked = await page.evaluate(() =>
      [...document.querySelectorAll('[data-testid^="waveform-"]')].map((el) => {
        const root = el.firstElementChild?.shadowRoot ?? el.shadowRoot ?? el;
        const canvases = [...root.querySelectorAll("canvas")];
        let ink = 0;
        for (const c of canvases) {
          if (!c.width || !c.height) continue;
          const d = c.getContext("2d").getImageData(0, 0, c.width, c.height).data;
          for (let i = 3; i < d.length; i += 4) if (d[i] > 0) ink++;
        }
        return { id: el.getAttribute("data-testid"), canvases: canvases.length, ink };
      }),
    );
    assert.equal(inked.length, STEMS.length);
    for (const w of inked) assert.ok(w.canvases > 0 && w.ink > 100, `waveform drawn: ${JSON.stringify(w)}`);
    const snap = await snapshot();
    assert.deepEqual(Object.keys(snap.stems).sort(), [...STEMS].sort());
    for (const s of Object.values(snap.stems)) assert.equal(s.gain, 1);
  });

  test("mute one stem and solo another: the Web Audio gains follow", async () => {
    await page.click('[data-testid="mute-drums"]');
    await page.click('[data-testid="solo-bass"]');
    const snap = await snapshot();
    assert.deepEqual(
      Object.fromEntries(Object.entries(snap.stems).map(([k, v]) => [k, v.gain])),
      { vocals: 0, drums: 0, bass: 1, other: 0 },
    );
    // Keyboard: M / S act on the focused lane.
    await page.focus('[data-testid="lane-other"]');
    await page.keyboard.press("s");
    let gains = (await snapshot()).stems;
    assert.equal(gains.other.gain, 1, "S soloed the focused lane");
    await page.keyboard.press("m");
    gains = (await snapshot()).stems;
    assert.equal(gains.other.gain, 0, "M muted the focused lane (mute wins over solo)");
    await page.keyboard.press("m");
    await page.keyboard.press("s");
    // Volume and pan reach the nodes.
    await page.locator('[data-testid="gain-bass"]').fill("0.5");
    await page.locator('[data-testid="pan-bass"]').fill("-0.5");
    gains = (await snapshot()).stems;
    assert.equal(gains.bass.gain, 0.5);
    assert.equal(gains.bass.pan, -0.5);
    await page.locator('[data-testid="gain-bass"]').fill("1");
  });

  test("play starts every stem at the same AudioContext time; space pauses", async () => {
    await page.locator('[data-testid="lane-vocals"]').click({ position: { x: 5, y: 5 } });
    await page.click('[data-testid="play"]');
    const snap = await until(async () => {
      const s = await snapshot();
      return s.playing && s.position > 0.3 ? s : null;
    }, { what: "playback to advance", timeout: 20_000 });
    assert.equal(snap.lastStart.sources, STEMS.length);
    assert.equal(new Set(snap.lastStart.startTimes).size, 1, "all sources share one start time");
    assert.equal(snap.state, "running");
    await page.screenshot({ path: screenshotPath("mixer.png"), fullPage: true });
    await page.keyboard.press("Space");
    await until(async () => !(await snapshot()).playing, { what: "space to pause" });
    // Click on a waveform to seek (middle of the lane).
    const box = await page.locator('[data-testid="wave-vocals"]').boundingBox();
    await page.mouse.click(box.x + box.width / 2, box.y + box.height / 2);
    const pos = (await snapshot()).position;
    assert.ok(Math.abs(pos - 3) < 0.3, `seeked to the middle, got ${pos}`);
    // Drag across a waveform to loop a region.
    await page.mouse.move(box.x + box.width * 0.25, box.y + 20);
    await page.mouse.down();
    await page.mouse.move(box.x + box.width * 0.5, box.y + 20, { steps: 5 });
    await page.mouse.up();
    const loop = (await snapshot()).loop;
    assert.ok(loop && Math.abs(loop.start - 1.5) < 0.2 && Math.abs(loop.end - 3) < 0.2, `loop ${JSON.stringify(loop)}`);
  });

  test("every mixer control is named with its lane; keyboard seek and loop keys", async () => {
    for (const name of STEMS) {
      for (const label of [`Mute ${name}`, `Solo ${name}`]) assert.equal(await page.getByRole("button", { name: label, exact: true }).count(), 1, label);
      for (const label of [`Volume ${name}`, `Pan ${name}`]) assert.equal(await page.getByRole("slider", { name: label, exact: true }).count(), 1, label);
      assert.equal(await page.getByLabel(`Download ${name}`, { exact: true }).count(), 1, `Download ${name}`);
    }
    const seek = page.getByTestId("seek");
    await seek.focus();
    await page.keyboard.press("Home");
    assert.ok((await snapshot()).position < 0.01, "Home: the start");
    await page.keyboard.press("ArrowRight");
    assert.ok(Math.abs((await snapshot()).position - 5) < 0.01, "ArrowRight: +5 s");
    await page.keyboard.press("Shift+ArrowLeft");
    assert.ok(Math.abs((await snapshot()).position - 4) < 0.01, "Shift+ArrowLeft: -1 s");
    await page.keyboard.press("End");
    const snap = await snapshot();
    assert.ok(Math.abs(snap.position - snap.duration) < 0.01, "End: the end");
    // Loop in / out on a lane: I at 1 s, O at 2 s; Escape clears it.
    await page.focus('[data-testid="lane-drums"]');
    await page.keyboard.press("Home");
    await page.keyboard.press("Shift+ArrowRight");
    await page.keyboard.press("i");
    await page.keyboard.press("Shift+ArrowRight");
    await page.keyboard.press("o");
    const loop = (await snapshot()).loop;
    assert.ok(loop && Math.abs(loop.start - 1) < 0.01 && Math.abs(loop.end - 2) < 0.01, `I / O loop ${JSON.stringify(loop)}`);
    await page.keyboard.press("Escape");
    assert.equal((await snapshot()).loop, null);
    // A loop again, from the keys (the History test expects one).
    await page.keyboard.press("Home");
    await page.keyboard.press("ArrowRight");
    await page.keyboard.press("Shift+ArrowLeft");
    await page.keyboard.press("Shift+ArrowLeft");
    await page.keyboard.press("Shift+ArrowLeft");
    await page.keyboard.press("i");
    await page.keyboard.press("Shift+ArrowRight");
    await page.keyboard.press("Shift+ArrowRight");
    await page.keyboard.press("Shift+ArrowRight");
    await page.keyboard.press("o");
    const again = (await snapshot()).loop;
    assert.ok(again && Math.abs(again.start - 2) < 0.01 && Math.abs(again.end - 5) < 0.01, `loop 2-5 s ${JSON.stringify(again)}`);
  });

  test("download each stem as WAV 24 / 16, FLAC 24 / 16 and MP3 from its lane", async () => {
    const expect = {
      wav24: (b) => b.subarray(0, 4).toString() === "RIFF" && b.readUInt16LE(34) === 24,
      wav16: (b) => b.subarray(0, 4).toString() === "RIFF" && b.readUInt16LE(34) === 16,
      flac24: (b) => b.subarray(0, 4).toString() === "fLaC" && ((b[20] & 1) << 4 | b[21] >> 4) + 1 === 24,
      flac16: (b) => b.subarray(0, 4).toString() === "fLaC" && ((b[20] & 1) << 4 | b[21] >> 4) + 1 === 16,
      mp3: (b) => b.subarray(0, 3).toString() === "ID3" || (b[0] === 0xff && (b[1] & 0xe0) === 0xe0),
    };
    for (const name of ["vocals", "bass"]) {
      for (const [id, check] of Object.entries(expect)) {
        await page.click(`[data-testid="download-${name}"] summary`);
        const link = page.getByTestId(`download-${name}-${id}`);
        const [download] = await Promise.all([page.waitForEvent("download", { timeout: 60_000 }), link.click()]);
        const bytes = readFileSync(await download.path());
        assert.ok(check(bytes), `${name} ${id}: ${bytes.subarray(0, 24).toString("hex")}`);
        assert.equal(download.suggestedFilename(), `e2e song-${name}.${id.replace(/(16|24)$/, "")}`);
        assert.equal(await page.getAttribute(`[data-testid="download-${name}"]`, "open"), null, "the menu closes");
      }
    }
  });

  test("export a ZIP of the stems, in the format chosen", async () => {
    for (const [id, magic] of [["wav16", "RIFF"], ["flac24", "fLaC"]]) {
      await page.selectOption('[data-testid="zip-format"]', id);
      const [download] = await Promise.all([page.waitForEvent("download", { timeout: 60_000 }), page.click('[data-testid="export-zip"]')]);
      const files = unzipSync(new Uint8Array(readFileSync(await download.path())));
      const ext = id.startsWith("wav") ? "wav" : "flac";
      assert.deepEqual(Object.keys(files).sort(), STEMS.map((s) => `e2e song-${s}.${ext}`).sort());
      for (const n of Object.keys(files)) assert.equal(Buffer.from(files[n].subarray(0, 4)).toString(), magic);
      assert.equal(download.suggestedFilename(), "e2e song-stems.zip");
    }
  });

  test("export the mix as WAV rendered in the browser", async () => {
    assert.equal(await page.getAttribute('[data-testid="export-where"]', "data-where"), "browser", "a 6-s song renders faster in the browser");
    await page.selectOption('[data-testid="export-renderer"]', "browser");
    await page.selectOption('[data-testid="export-format"]', "wav");
    const [download] = await Promise.all([page.waitForEvent("download", { timeout: 60_000 }), page.click('[data-testid="export-mix"]')]);
    const bytes = readFileSync(await download.path());
    assert.equal(bytes.subarray(0, 4).toString(), "RIFF");
    assert.equal(bytes.readUInt16LE(22), 2, "stereo");
    const seconds = bytes.readUInt32LE(40) / (bytes.readUInt32LE(24) * 4);
    assert.ok(Math.abs(seconds - 6) < 0.1, `6 s long, got ${seconds}`);
    await page.locator('[data-testid="export-note"]', { hasText: "in your browser" }).waitFor();
  });

  test("export the mix as MP3 (lamejs in the browser)", async () => {
    await page.selectOption('[data-testid="export-format"]', "mp3");
    const [download] = await Promise.all([page.waitForEvent("download", { timeout: 120_000 }), page.click('[data-testid="export-mix"]')]);
    const bytes = readFileSync(await download.path());
    assert.equal(download.suggestedFilename(), "e2e song-mix.mp3");
    assert.ok(bytes.length > 10_000, `mp3 size ${bytes.length}`);
    const syncAt = bytes.indexOf(Buffer.from([0xff]));
    assert.ok(bytes.subarray(0, 3).toString() === "ID3" || (bytes[syncAt + 1] & 0xe0) === 0xe0, "an MPEG audio frame");
  });

  test("render on server", async () => {
    await page.selectOption('[data-testid="export-renderer"]', "server");
    await page.selectOption('[data-testid="export-format"]', "wav");
    await page.click('[data-testid="export-mix"]');
    const link = page.locator('[data-testid="server-export-link"]');
    await link.waitFor({ timeout: 120_000 });
    const href = await link.getAttribute("href");
    const resp = await fetch(server.base + href);
    assert.equal(resp.status, 200);
    const bytes = Buffer.from(await resp.arrayBuffer());
    assert.equal(bytes.subarray(0, 4).toString(), "RIFF");
    await page.locator('[data-testid="export-note"]', { hasText: "rendered on the server" }).waitFor();
    await page.selectOption('[data-testid="export-renderer"]', "auto");
  });

  test("the clip light latches after pushing a fader; export warns, the limiter keeps the file under full scale", async () => {
    const light = page.getByTestId("clip-light");
    assert.equal(await light.getAttribute("data-clipped"), "false");
    const saved = await page.evaluate(() => window.__mixer.mix());
    await page.locator('[data-testid="gain-bass"]').fill("2");
    await page.locator('[data-testid="master-gain"]').fill("2");
    await page.click('[data-testid="play"]');
    await page.locator('[data-testid="clip-light"][data-clipped="true"]').waitFor({ timeout: 20_000 });
    await page.click('[data-testid="play"]'); // pause: the light stays on (latched)
    assert.equal(await light.getAttribute("data-clipped"), "true");
    await page.screenshot({ path: screenshotPath("mixer-clip.png"), fullPage: true });
    // Exporting asks first, and the limiter is one click away.
    await page.getByTestId("clip-warning").waitFor();
    await page.selectOption('[data-testid="export-renderer"]', "browser");
    await page.selectOption('[data-testid="export-format"]', "wav");
    await page.click('[data-testid="export-mix"]');
    await page.click('[data-testid="use-limiter"]');
    assert.equal(await page.inputValue('[data-testid="peak-control"]'), "limit");
    const [download] = await Promise.all([page.waitForEvent("download", { timeout: 60_000 }), page.click('[data-testid="export-mix"]')]);
    const bytes = readFileSync(await download.path());
    let peak = 0;
    for (let i = 44; i + 1 < bytes.length; i += 2) peak = Math.max(peak, Math.abs(bytes.readInt16LE(i)));
    assert.ok(peak <= Math.ceil(32767 * 10 ** (-1 / 20)) + 1, `limited to -1 dBFS: ${peak}`);
    assert.match(await page.textContent('[data-testid="export-note"]'), /limiter\), nothing clipped/);
    // The server path limits the same way.
    await page.selectOption('[data-testid="export-renderer"]', "server");
    await page.click('[data-testid="export-mix"]');
    await page.locator('[data-testid="export-note"]', { hasText: "rendered on the server" }).waitFor({ timeout: 120_000 });
    assert.match(await page.textContent('[data-testid="export-note"]'), /limiter\), nothing clipped/);
    await page.selectOption('[data-testid="export-renderer"]', "auto");
    await page.selectOption('[data-testid="peak-control"]', "off");
    // Click the light to reset it; put the faders back.
    await light.click();
    assert.equal(await light.getAttribute("data-clipped"), "false");
    assert.equal(await page.getByTestId("clip-warning").count(), 0);
    await page.locator('[data-testid="gain-bass"]').fill(String(saved.stems.bass.gain));
    await page.locator('[data-testid="master-gain"]').fill(String(saved.master));
  });

  test("reopening the job from History restores the mixer", async () => {
    await page.goto(server.base + "/history");
    const id = jobUrl.split("/").pop();
    await page.click(`[data-testid="open-${id}"]`);
    await page.locator('[data-testid="mixer"][data-ready="true"]').waitFor({ timeout: 60_000 });
    const snap = await snapshot();
    assert.deepEqual(
      Object.fromEntries(Object.entries(snap.stems).map(([k, v]) => [k, v.gain])),
      { vocals: 0, drums: 0, bass: 1, other: 0 },
    );
    assert.ok(snap.loop, "the loop region was restored");
    assert.equal(await page.getAttribute('[data-testid="mute-drums"]', "aria-pressed"), "true");
  });

  test("expand a finished 2-stem job to 4 stems", async () => {
    await page.goto(server.base + "/");
    await page.setInputFiles('[data-testid="split-drop-input"]', tempFile("two.wav", makeSong(3)));
    await page.selectOption('[data-testid="quality"]', "fast");
    await page.click('[data-testid="split-submit"]');
    await page.waitForURL(/\/stems\/[0-9a-f]+$/, { timeout: 60_000 });
    const twoUrl = page.url();
    await page.locator('[data-testid="mixer"][data-ready="true"]').waitFor({ timeout: 180_000 });
    assert.deepEqual(Object.keys((await snapshot()).stems).sort(), ["instrumental", "vocals"]);
    await page.click('[data-testid="expand"]');
    await page.waitForURL((u) => u.href !== twoUrl && /\/stems\/[0-9a-f]+$/.test(u.href), { timeout: 60_000 });
    await page.locator('[data-testid="mixer"][data-ready="true"]').waitFor({ timeout: 180_000 });
    assert.deepEqual(Object.keys((await snapshot()).stems).sort(), [...STEMS].sort());
    assert.match(await page.textContent(".job-head"), /expanded/);
  });

  test("while a job runs, the block game plays in its panel without blocking the job view", async () => {
    // A job that stays "running" (the status answer is stubbed; everything else is the real app).
    const fake = "f".repeat(32);
    let polls = 0;
    await page.route(`**/api/stems/status/${fake}*`, (route) => {
      polls++;
      route.fulfill({
        contentType: "application/json",
        body: JSON.stringify({
          job_id: fake, kind: "stems.split", status: "running", progress: Math.min(90, polls * 5), stage: "separating",
          queue_position: null, engine: null, engine_note: null, error: null, params: { stems: 2, quality: "best" },
          input_name: "long song.wav", parent_id: null, group_id: null, created_at: null, started_at: null,
          finished_at: null, files_expired: false, stems: [],
        }),
      });
    });
    await page.goto(`${server.base}/stems/${fake}?token=stub`);
    const game = page.locator('[data-testid="game-panel"]');
    await game.waitFor();
    await game.getByRole("button", { name: "Play" }).click();
    await page.keyboard.press("ArrowLeft");
    await page.keyboard.press("ArrowUp");
    const scrollBefore = await page.evaluate(() => window.scrollY);
    await page.keyboard.press("Space"); // hard drop: 2 points per row, and no page scroll
    const score = Number(await page.textContent('[data-testid="game-score"]'));
    assert.ok(score >= 30, `hard drop scored: ${score}`);
    assert.equal(await page.evaluate(() => window.scrollY), scrollBefore);
    // The best score follows in an effect after the render that shows the new score.
    await until(async () => Number(await page.textContent('[data-testid="game-best"]')) === score,
      { what: "the best score to catch up with the score" });
    // The job view keeps updating while playing.
    const label = async () => page.getAttribute('[data-testid="job-progress-bar"] [role="progressbar"]', "aria-valuenow");
    const p0 = Number(await label());
    await until(async () => Number(await label()) > p0, { what: "the progress bar to move while playing" });
    await page.screenshot({ path: screenshotPath("game.png") });
    // Focus elsewhere pauses the game; the best score survives a reload.
    await page.locator("h1").click();
    await page.locator("text=Paused").waitFor();
    await page.reload();
    await game.waitFor();
    assert.equal(Number(await page.textContent('[data-testid="game-best"]')), score);
    await page.unroute(`**/api/stems/status/${fake}*`);
  });

  test("no uncaught errors in the page", () => {
    assert.deepEqual(pageErrors, []);
  });
});
