// Every page at a phone size (390x844, touch) and a desktop size (1440x900): no sideways scroll of the
// document, no serious or critical axe-core violations, a screenshot of each; then the touch controls
// (game buttons, piano-roll zoom / pinch / edit buttons, stacked mixer lanes) and the piano roll's note list
// from the keyboard. The jobs it shows are real ones (a 4-stem split, a stereo speech clean-up and a 48 s
// melody converted to MIDI); only the "still running" job behind the game is a stubbed status answer.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import {
  axeViolations,
  DESKTOP,
  launchBrowser,
  makeMelody,
  makeSong,
  pageShot,
  PHONE,
  sideScroll,
  startServer,
  until,
  wavBytes,
} from "./harness.mjs";

let server;
let browser;
const jobs = {};
let speechStatus;
const pageErrors = [];
const RUNNING = "e".repeat(32);

/** A long melody: 96 notes of 0.5 s (48 s), the kind of stem that used to widen the page to 6,000 px. */
const LONG_MELODY = Array.from({ length: 96 }, (_, i) => [60, 64, 67, 72, 71, 67, 64, 62][i % 8] + (Math.floor(i / 8) % 3) * 2);

async function submit(path, name, bytes, fields) {
  const form = new FormData();
  form.append("file", new Blob([bytes], { type: "audio/wav" }), name);
  for (const [k, v] of Object.entries(fields)) form.append(k, v);
  const resp = await fetch(server.base + path, { method: "POST", body: form });
  assert.equal(resp.status, 202, await resp.clone().text());
  return resp.json();
}

async function finished(job) {
  return until(async () => {
    const s = await (await fetch(server.base + job.status_url, { headers: { "X-Job-Token": job.job_token } })).json();
    if (s.status === "failed") throw new Error(`job failed: ${s.error}`);
    return s.status === "succeeded" ? s : null;
  }, { timeout: 240_000, interval: 500, what: `job ${job.job_id}` });
}

/** A voice-like stereo recording (the right channel quieter), for the speech page. */
function stereoVoice(seconds = 3, rate = 16000) {
  const n = seconds * rate;
  const l = new Float32Array(n);
  const r = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const t = i / rate;
    const v = Math.max(0, Math.sin(2 * Math.PI * 2 * t)) * 0.3 * Math.sin(2 * Math.PI * 150 * t) + 0.02 * Math.sin(i * 12.9898);
    l[i] = v;
    r[i] = 0.5 * v;
  }
  return wavBytes([l, r], rate);
}

const contexts = {};
async function context(kind) {
  if (contexts[kind]) return contexts[kind];
  const sizes = { phone: PHONE, desktop: DESKTOP, small: { ...PHONE, viewport: { width: 360, height: 740 } } };
  const ctx = await browser.newContext({ ...sizes[kind], acceptDownloads: true });
  const tokens = Object.fromEntries(Object.values(jobs).map((j) => [j.job_id, j.job_token]));
  await ctx.addInitScript((t) => localStorage.setItem("burntbeats:tokens", JSON.stringify(t)), tokens);
  // The game needs a job that stays "running": its status answer is stubbed, the rest is the real app.
  await ctx.route(`**/api/stems/status/${RUNNING}*`, (route) =>
    route.fulfill({
      contentType: "application/json",
      body: JSON.stringify({
        job_id: RUNNING, kind: "stems.split", status: "running", progress: 40, stage: "separating", queue_position: null,
        engine: null, engine_note: null, error: null, params: { stems: 4, quality: "best" }, input_name: "long song.wav",
        parent_id: null, group_id: null, created_at: null, started_at: null, finished_at: null, files_expired: false, stems: [],
      }),
    }),
  );
  const page = await ctx.newPage();
  page.on("pageerror", (err) => pageErrors.push(`${kind}: ${err}`));
  contexts[kind] = page;
  return page;
}

/** Visible controls smaller than a finger: buttons, menus and disclosure lines under 44 px, boxes under 24 px. */
function smallTargets(page) {
  return page.evaluate(() => {
    const small = [];
    for (const el of document.querySelectorAll('button, select, summary, a.btn-primary, a.button, input[type="checkbox"], input[type="radio"], input[type="range"]')) {
      const r = el.getBoundingClientRect();
      if (!r.width || !r.height || getComputedStyle(el).visibility === "hidden") continue;
      const min = el.matches("button, select, summary, a") ? 44 : 24;
      if (r.height < min - 0.5 || r.width < Math.min(min, 24) - 0.5) {
        small.push(`${el.tagName.toLowerCase()} "${(el.getAttribute("aria-label") ?? el.textContent ?? "").trim().slice(0, 30)}" ${Math.round(r.width)}x${Math.round(r.height)}`);
      }
    }
    return small;
  });
}

/** Each page: where it is and what says it has finished drawing. */
const PAGES = [
  { name: "split", url: () => "/", ready: '[data-testid="split-drop-limits"]' },
  { name: "mixer", url: () => `/stems/${jobs.stems.job_id}`, ready: '[data-testid="mixer"][data-ready="true"]' },
  { name: "game", url: () => `/stems/${RUNNING}?token=stub`, ready: '[data-testid="game-panel"]' },
  { name: "speech", url: () => "/speech", ready: '[data-testid="speech-drop-limits"]' },
  { name: "speech-result", url: () => `/speech?job=${jobs.speech.job_id}`, ready: '[data-testid="ab-player"][data-ready="true"]' },
  { name: "midi", url: () => "/midi", ready: '[data-testid="midi-drop-limits"]' },
  { name: "midi-editor", url: () => `/midi?job=${jobs.midi.job_id}`, ready: '[data-testid="midi-stats"]' },
  { name: "history", url: () => "/history", ready: '[data-testid="history"]' },
  { name: "dead-link", url: () => `/stems/${"0".repeat(32)}?token=none`, ready: '[data-testid="job-link-problem"]' },
  { name: "not-found", url: () => "/no-such-page", ready: "main" },
];

before(async () => {
  server = await startServer();
  browser = await launchBrowser();
  const [stems, speech, midi] = await Promise.all([
    submit("/api/stems/split", "song.wav", makeSong(4), { stems: "4", quality: "fast" }),
    submit("/api/speech/enhance", "stereo interview.wav", stereoVoice(), { engine: "fast" }),
    submit("/api/midi/convert", "long melody.wav", makeMelody(LONG_MELODY, 0.5), {}),
  ]);
  Object.assign(jobs, { stems, speech, midi });
  [, speechStatus] = await Promise.all([finished(stems), finished(speech), finished(midi)]);
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

describe("every page at 390 px (touch) and 1440 px", () => {
  test("the speech API keeps a stereo recording stereo by default", () => {
    assert.equal(speechStatus.result.channels, 2);
  });

  for (const kind of ["phone", "desktop"]) {
    for (const p of PAGES) {
      test(`${p.name} at ${kind === "phone" ? "390x844" : "1440x900"}: no sideways scroll, axe clean, screenshot`, async () => {
        const page = await context(kind);
        await page.goto(server.base + p.url());
        await page.locator(p.ready).first().waitFor({ timeout: 60_000 });
        if (p.name === "mixer") await page.locator('[data-testid^="waveform-"][data-drawn="true"]').first().waitFor({ timeout: 30_000 });
        assert.equal(await sideScroll(page), 0, `${p.name} scrolls sideways at ${kind}`);
        if (kind === "phone") assert.deepEqual(await smallTargets(page), [], `finger-sized controls on ${p.name}`);
        await pageShot(page, `pages/${p.name}-${kind}.png`);
        assert.deepEqual(await axeViolations(page), [], `axe on ${p.name} (${kind})`);
      });
    }
  }
});

describe("layout details", () => {
  test("every page at 360x740 (a small phone): no sideways scroll", async () => {
    const page = await context("small");
    for (const p of PAGES) {
      await page.goto(server.base + p.url());
      await page.locator(p.ready).first().waitFor({ timeout: 60_000 });
      assert.equal(await sideScroll(page), 0, `${p.name} scrolls sideways at 360 px`);
    }
  });

  test("the MIDI editor of a 48 s stem: only the piano roll scrolls, at both sizes", async () => {
    for (const kind of ["desktop", "phone"]) {
      const page = await context(kind);
      await page.goto(`${server.base}/midi?job=${jobs.midi.job_id}`);
      await page.locator('[data-testid="midi-stats"]').waitFor({ timeout: 60_000 });
      const box = await page.evaluate(() => {
        const wrap = document.querySelector('[data-testid="piano-roll"]');
        const r = wrap.getBoundingClientRect();
        return { right: r.right, left: r.left, scroll: wrap.scrollWidth, client: wrap.clientWidth, viewport: document.documentElement.clientWidth };
      });
      assert.ok(box.left >= 0 && box.right <= box.viewport, `roll inside the page (${kind}): ${JSON.stringify(box)}`);
      assert.ok(box.scroll > box.client * 2, `the roll itself scrolls (${kind}): ${JSON.stringify(box)}`);
      assert.equal(await sideScroll(page), 0);
    }
  });

  test("phone: mixer lanes are stacked with full-width waveforms", async () => {
    const page = await context("phone");
    await page.goto(`${server.base}/stems/${jobs.stems.job_id}`);
    await page.locator('[data-testid="mixer"][data-ready="true"]').waitFor({ timeout: 60_000 });
    const lanes = await page.$$eval('[data-testid^="wave-"]', (els) =>
      els.map((el) => ({ id: el.getAttribute("data-testid"), ...el.getBoundingClientRect().toJSON(), viewport: document.documentElement.clientWidth })),
    );
    assert.equal(lanes.length, 4);
    for (const l of lanes) {
      assert.ok(l.width >= l.viewport * 0.85 && l.right <= l.viewport, `full-width waveform: ${JSON.stringify(l)}`);
    }
    // The controls sit above their waveform (one column), not beside it.
    const lane = await page.$eval('[data-testid="lane-vocals"]', (el) => {
      const c = el.querySelector(".lane-controls").getBoundingClientRect();
      const w = el.querySelector(".lane-wave").getBoundingClientRect();
      return { controlsBottom: c.bottom, waveTop: w.top };
    });
    assert.ok(lane.controlsBottom <= lane.waveTop + 1, JSON.stringify(lane));
    // A tap on a waveform seeks there (the middle of the 4 s song).
    const wave = await page.locator('[data-testid="wave-vocals"]').boundingBox();
    await page.touchscreen.tap(wave.x + wave.width / 2, wave.y + wave.height / 2);
    const pos = await page.evaluate(() => window.__mixer.snapshot().position);
    assert.ok(Math.abs(pos - 2) < 0.3, `tap seeked to the middle: ${pos}`);
    // A one-finger drag across a waveform loops that region (1 s to 2 s).
    const cdp = await page.context().newCDPSession(page);
    const y = wave.y + wave.height / 2;
    const at = (f) => [{ x: wave.x + wave.width * f, y, id: 1 }];
    await cdp.send("Input.dispatchTouchEvent", { type: "touchStart", touchPoints: at(0.25) });
    for (const f of [0.3, 0.4, 0.5]) await cdp.send("Input.dispatchTouchEvent", { type: "touchMove", touchPoints: at(f) });
    await cdp.send("Input.dispatchTouchEvent", { type: "touchEnd", touchPoints: [] });
    const loop = await page.evaluate(() => window.__mixer.snapshot().loop);
    assert.ok(loop && Math.abs(loop.start - 1) < 0.2 && Math.abs(loop.end - 2) < 0.2, `touch loop: ${JSON.stringify(loop)}`);
    await page.evaluate(() => localStorage.removeItem(`burntbeats:mix:${location.pathname.split("/").pop()}`));
  });

  test("phone: the block game fits and plays with its touch buttons", async () => {
    const page = await context("phone");
    await page.goto(`${server.base}/stems/${RUNNING}?token=stub`);
    const panel = page.locator('[data-testid="game-panel"]');
    await panel.waitFor();
    const r = await panel.evaluate((el) => ({ ...el.getBoundingClientRect().toJSON(), viewport: document.documentElement.clientWidth }));
    assert.ok(r.left >= 0 && r.right <= r.viewport, `the game fits: ${JSON.stringify(r)}`);
    await page.getByRole("button", { name: "Play", exact: true }).tap();
    const x0 = await page.evaluate(() => document.querySelector(".game-board").getAttribute("aria-label"));
    await page.tap('[data-testid="game-left"]');
    await page.tap('[data-testid="game-rotate"]');
    const x1 = await page.evaluate(() => document.querySelector(".game-board").getAttribute("aria-label"));
    assert.notEqual(x1, x0, "the buttons moved the piece");
    await page.tap('[data-testid="game-drop"]');
    const score = Number(await page.textContent('[data-testid="game-score"]'));
    assert.ok(score >= 30, `the hard-drop button scored: ${score}`);
    assert.equal(await page.locator("text=Paused").count(), 0, "tapping the buttons does not pause the game");
    for (const b of await page.$$('[data-testid^="game-"][type="button"]')) {
      const size = await b.boundingBox();
      assert.ok(size.height >= 44 && size.width >= 44, `finger-sized button: ${JSON.stringify(size)}`);
    }
  });

  test("phone: piano roll zoom buttons, two-finger pinch, tap to select, edit buttons", async () => {
    const page = await context("phone");
    await page.goto(`${server.base}/midi?job=${jobs.midi.job_id}`);
    await page.locator('[data-testid="midi-stats"]').waitFor({ timeout: 60_000 });
    const px = () => page.evaluate(() => window.__pianoRoll.view.pxPerSec);
    const px0 = await px();
    await page.tap('[data-testid="zoom-in"]');
    assert.equal(await px(), px0 * 1.5);
    await page.tap('[data-testid="zoom-out"]');
    assert.equal(await px(), px0);

    // Pinch: two touch points moving apart zoom in (raw touch events over the DevTools protocol).
    const canvas = await page.locator('[data-testid="piano-roll-canvas"]').boundingBox();
    const wrap = await page.locator('[data-testid="piano-roll"]').boundingBox();
    const cy = wrap.y + Math.min(wrap.height, canvas.height) / 2;
    const cx = wrap.x + wrap.width / 2;
    const cdp = await page.context().newCDPSession(page);
    const touch = (type, d) =>
      cdp.send("Input.dispatchTouchEvent", {
        type,
        touchPoints: type === "touchEnd" ? [] : [{ x: cx - d, y: cy, id: 1 }, { x: cx + d, y: cy, id: 2 }],
      });
    await touch("touchStart", 30);
    for (const d of [40, 55, 70, 90]) await touch("touchMove", d);
    await touch("touchEnd", 0);
    const pinched = await px();
    assert.ok(pinched > px0 * 2, `pinching out zoomed in: ${px0} -> ${pinched}`);
    await page.tap('[data-testid="zoom-out"]');
    await page.tap('[data-testid="zoom-out"]');

    // Tap a note to select it, then the edit buttons change it.
    const first = (await page.evaluate(() => window.__pianoRoll.notes()))[0];
    await page.evaluate(() => (document.querySelector('[data-testid="piano-roll"]').scrollLeft = 0));
    const rect = await page.evaluate((id) => window.__pianoRoll.noteRect(id), first.id);
    const box = await page.locator('[data-testid="piano-roll-canvas"]').boundingBox();
    await page.evaluate((y) => (document.querySelector('[data-testid="piano-roll"]').scrollTop = Math.max(0, y - 40)), rect.y);
    const box2 = await page.locator('[data-testid="piano-roll-canvas"]').boundingBox();
    await page.touchscreen.tap(box2.x + rect.x + Math.min(rect.w / 3, 10), box2.y + rect.y + rect.h / 2);
    assert.deepEqual(await page.evaluate(() => window.__pianoRoll.selected()), [first.id], `tap selected (canvas at ${box.y})`);
    await page.tap('[data-testid="edit-pitch-up"]');
    await page.tap('[data-testid="edit-longer"]');
    const edited = (await page.evaluate(() => window.__pianoRoll.notes())).find((n) => n.id === first.id);
    assert.equal(edited.pitch, first.pitch + 1);
    assert.ok(edited.end > first.end, "longer");
    assert.equal(await sideScroll(page), 0);
  });

  test("speech: defaults up front, the rest under Advanced; limits shown before upload; API link in the footer", async () => {
    const page = await context("desktop");
    await page.goto(`${server.base}/speech`);
    const limits = await page.textContent('[data-testid="speech-drop-limits"]');
    assert.match(limits, /Up to \d+ MB and \d+(\.\d)? (minutes|seconds|hours) per file/);
    const advanced = page.locator('[data-testid="speech-advanced"]');
    assert.equal(await advanced.evaluate((d) => d.open), false, "advanced settings start closed");
    assert.match(await advanced.locator("summary").textContent(), /channels kept/);
    await advanced.locator("summary").click();
    assert.equal(await page.inputValue('[data-testid="speech-channels"]'), "keep");
    assert.equal(await page.locator('.topbar nav a:text-is("API")').count(), 0, "no API in the main navigation");
    assert.equal(await page.getAttribute('[data-testid="api-docs-link"]', "href"), "/docs");
  });

  test("keyboard: the note list selects, re-pitches, moves, lengthens and deletes notes", async () => {
    const page = await context("desktop");
    await page.goto(`${server.base}/midi?job=${jobs.midi.job_id}`);
    await page.locator('[data-testid="midi-stats"]').waitFor({ timeout: 60_000 });
    const notes = () => page.evaluate(() => window.__pianoRoll.notes().map((n) => ({ ...n })));
    const before = await notes();
    await page.locator('[data-testid="note-table"] summary').click();
    const [a, b, c] = before;
    await page.focus(`[data-testid="note-row-${a.id}"]`);
    await page.keyboard.press("Alt+ArrowUp"); // focused note up a semitone
    await page.keyboard.press("Shift+Alt+ArrowUp"); // and an octave
    let now = await notes();
    assert.equal(now.find((n) => n.id === a.id).pitch, a.pitch + 13);
    assert.match(await page.textContent('[data-testid="note-table-status"]'), /Up an octave: /);
    await page.keyboard.press("ArrowDown"); // next note
    assert.equal(await page.evaluate(() => document.activeElement.getAttribute("data-testid")), `note-row-${b.id}`);
    await page.keyboard.press("Alt+ArrowRight"); // later by one grid step
    await page.keyboard.press("]"); // longer
    now = await notes();
    const nb = now.find((n) => n.id === b.id);
    assert.ok(nb.start > b.start && nb.end - nb.start > b.end - b.start, `moved and lengthened: ${JSON.stringify([b, nb])}`);
    await page.keyboard.press("ArrowDown");
    await page.keyboard.press("Space"); // add the third note to the selection (the edited one is selected)
    const selected = () => page.evaluate(() => window.__pianoRoll.selected());
    assert.deepEqual(await selected(), [b.id, c.id]);
    await page.keyboard.press("Escape"); // select none
    assert.deepEqual(await selected(), []);
    await page.keyboard.press("Space");
    assert.deepEqual(await selected(), [c.id]);
    await page.keyboard.press("Delete");
    now = await notes();
    assert.equal(now.length, before.length - 1);
    assert.ok(!now.some((n) => n.id === c.id), "deleted");
    assert.match(await page.evaluate(() => document.activeElement.getAttribute("data-testid")), /^note-row-/, "focus stays in the list");
    await page.keyboard.press("Control+z");
    assert.equal((await notes()).length, before.length, "undo brings it back");
  });

  test("no uncaught errors in the pages", () => {
    assert.deepEqual(pageErrors, []);
  });
});
