// Audio -> MIDI: convert, edit a note in the piano roll, save (output.mid changes), batch, merge, export.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { after, before, describe, test } from "node:test";
import { unzipSync } from "fflate";
import { launchBrowser, makeMelody, screenshotPath, startServer, tempFile, until } from "./harness.mjs";

let server;
let browser;
let page;
let jobId;
let token;
const pageErrors = [];

before(async () => {
  server = await startServer();
  const openapi = await (await fetch(`${server.base}/openapi.json`)).json();
  if (!openapi.paths["/api/midi/convert"]) throw new Error("The MIDI API (/api/midi/convert) is not in this build.");
  browser = await launchBrowser();
  const context = await browser.newContext({ acceptDownloads: true, viewport: { width: 1400, height: 900 } });
  page = await context.newPage();
  page.on("pageerror", (err) => pageErrors.push(String(err)));
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

const notes = () => page.evaluate(() => window.__pianoRoll.notes().map((n) => ({ ...n })));

async function midiBytes() {
  const href = await page.getAttribute('[data-testid="download-mid"]', "href");
  const resp = await fetch(server.base + href);
  assert.equal(resp.status, 200);
  return Buffer.from(await resp.arrayBuffer());
}

describe("midi: convert, edit, save, batch, merge, export", () => {
  test("convert an uploaded melody; the piano roll shows its notes", async () => {
    await page.goto(server.base + "/midi");
    await page.setInputFiles('[data-testid="midi-drop-input"]', tempFile("melody.wav", makeMelody()));
    await page.click('[data-testid="midi-convert"]');
    await page.waitForURL(/\/midi\?job=[0-9a-f]+/, { timeout: 60_000 });
    jobId = new URL(page.url()).searchParams.get("job");
    await page.locator('[data-testid="midi-editor"]').waitFor({ timeout: 240_000 });
    token = await page.evaluate((id) => JSON.parse(localStorage.getItem("burntbeats:tokens"))[id], jobId);
    const list = await notes();
    assert.ok(list.length >= 4, `found notes: ${list.length}`);
    const pitches = new Set(list.map((n) => n.pitch));
    for (const p of [60, 64, 67]) assert.ok(pitches.has(p), `pitch ${p} among ${[...pitches]}`);
  });

  test("move a note with the mouse, undo / redo it, save: output.mid changes", async () => {
    const before = await midiBytes();
    const original = await notes();
    const target = original[0];
    const rect = await page.evaluate((id) => window.__pianoRoll.noteRect(id), target.id);
    const box = await page.locator('[data-testid="piano-roll-canvas"]').boundingBox();
    const x = box.x + rect.x + Math.min(rect.w * 0.3, 15);
    const y = box.y + rect.y + rect.h / 2;
    await page.mouse.move(x, y);
    await page.mouse.down();
    await page.mouse.move(x + 30, y - 12, { steps: 4 });
    await page.mouse.move(x + 60, y - 24, { steps: 4 });
    await page.mouse.up();
    const moved = (await notes()).find((n) => n.id === target.id);
    assert.equal(moved.pitch, target.pitch + 2, "two rows up = two semitones");
    assert.ok(moved.start > target.start + 0.3, `moved later: ${target.start} -> ${moved.start}`);
    assert.equal(await page.getAttribute('[data-testid="midi-editor"]', "data-dirty"), "true");

    await page.keyboard.press("Control+z");
    assert.equal((await notes()).find((n) => n.id === target.id).pitch, target.pitch, "undo");
    await page.keyboard.press("Control+Shift+z");
    assert.equal((await notes()).find((n) => n.id === target.id).pitch, target.pitch + 2, "redo");

    await page.screenshot({ path: screenshotPath("piano-roll.png"), fullPage: true });

    await page.click('[data-testid="save-notes"]');
    await page.locator('[data-testid="save-note"]').waitFor({ timeout: 30_000 });
    const after = await midiBytes();
    assert.notDeepEqual(after, before, "output.mid was rewritten");
    const server_notes = await (await fetch(`${server.base}/api/midi/notes/${jobId}`, { headers: { "X-Job-Token": token } })).json();
    assert.ok(
      server_notes.notes.some((n) => n.pitch === moved.pitch && Math.abs(n.start_s - moved.start) < 0.01),
      "the server has the moved note",
    );
  });

  test("add a note by double-click and delete it with the keyboard", async () => {
    const count = (await notes()).length;
    const box = await page.locator('[data-testid="piano-roll-canvas"]').boundingBox();
    await page.mouse.dblclick(box.x + box.width - 40, box.y + 8);
    assert.equal((await notes()).length, count + 1);
    await page.keyboard.press("Delete");
    assert.equal((await notes()).length, count);
  });

  test("batch-convert two files, merge them and export a zip", async () => {
    await page.goto(server.base + "/midi");
    await page.setInputFiles('[data-testid="midi-drop-input"]', [
      tempFile("bass line.wav", makeMelody([40, 43, 45, 47, 45, 43], 0.5)),
      tempFile("lead.wav", makeMelody([72, 71, 69, 67, 69, 71], 0.5)),
    ]);
    assert.match(await page.textContent('[data-testid="midi-convert"]'), /batch/);
    await page.click('[data-testid="midi-convert"]');
    await page.waitForURL(/\/midi\?job=[0-9a-f]+/, { timeout: 60_000 });
    const ids = await until(async () => {
      const items = await page.$$eval('[data-testid^="midi-job-"]', (els) => els.map((e) => [e.getAttribute("data-testid").slice(9), e.getAttribute("data-status")]));
      const batch = items.filter(([id]) => id !== jobId);
      return batch.length === 2 && batch.every(([, s]) => s === "succeeded") ? batch.map(([id]) => id) : null;
    }, { timeout: 240_000, interval: 1000, what: "both batch jobs to finish" });
    for (const id of ids) await page.check(`[data-testid="midi-check-${id}"]`);

    const [merged] = await Promise.all([page.waitForEvent("download", { timeout: 60_000 }), page.click('[data-testid="midi-merge"]')]);
    const mid = readFileSync(await merged.path());
    assert.equal(mid.subarray(0, 4).toString(), "MThd");
    assert.ok(mid.readUInt16BE(10) >= 2, `several tracks: ${mid.readUInt16BE(10)}`);

    const [zip] = await Promise.all([page.waitForEvent("download", { timeout: 180_000 }), page.click('[data-testid="midi-export"]')]);
    const members = Object.keys(unzipSync(new Uint8Array(readFileSync(await zip.path()))));
    assert.ok(members.some((m) => m.endsWith("merged.mid")), `members: ${members}`);
    assert.ok(members.filter((m) => m.endsWith(".mid")).length >= 3, `members: ${members}`);
  });

  test("convert a stem of a finished stems job (no re-upload)", async () => {
    const form = new FormData();
    form.append("file", new Blob([makeMelody([60, 62, 64, 65, 67], 0.5, 44100)], { type: "audio/wav" }), "tune.wav");
    form.append("stems", "2");
    form.append("quality", "fast");
    const split = await (await fetch(`${server.base}/api/stems/split`, { method: "POST", body: form })).json();
    await until(async () => {
      const s = await (await fetch(`${server.base}${split.status_url}`, { headers: { "X-Job-Token": split.job_token } })).json();
      return s.status === "succeeded";
    }, { timeout: 180_000, what: "the stems job" });
    await page.goto(`${server.base}/midi?source=${split.job_id}`);
    await page.locator('[data-testid="midi-stem-vocals"]').check();
    await page.click('[data-testid="midi-convert"]');
    await page.waitForURL(/\/midi\?job=[0-9a-f]+/, { timeout: 60_000 });
    await page.locator('[data-testid="midi-editor"]').waitFor({ timeout: 240_000 });
    assert.match(await page.textContent(".midi-main .job-head"), /stem vocals/);
  });

  test("no uncaught errors in the page", () => {
    assert.deepEqual(pageErrors, []);
  });
});
