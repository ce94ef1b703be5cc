// Managing songs, in real headless Chromium against the real app: history search, rename and delete (desktop and
// phone), expiry times, what a dead job link says, "try again" on a cancelled job, time estimates while queued,
// and the MIDI page's stems-job picker telling jobs of the same song apart.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { axeViolations, launchBrowser, makeSong, screenshotPath, startServer, until } from "./harness.mjs";

let server;
let browser;
const pageErrors = [];
const jobs = {};

async function split(name, seconds, { stems = 2, quality = "fast" } = {}) {
  const form = new FormData();
  form.append("file", new Blob([makeSong(seconds)], { type: "audio/wav" }), name);
  form.append("stems", String(stems));
  form.append("quality", quality);
  const resp = await fetch(`${server.base}/api/stems/split`, { method: "POST", body: form });
  const text = await resp.text();
  assert.equal(resp.status, 202, text);
  return JSON.parse(text);
}

async function status(job) {
  const resp = await fetch(server.base + job.status_url, { headers: { "X-Job-Token": job.job_token } });
  return { code: resp.status, body: await resp.json() };
}

async function finished(job) {
  return until(async () => {
    const { body } = await status(job);
    return ["succeeded", "failed", "cancelled"].includes(body.status) && body;
  }, { timeout: 180_000, what: `job ${job.job_id}` });
}

async function newPage(width, height) {
  const context = await browser.newContext({ viewport: { width, height }, hasTouch: width < 600 });
  const page = await context.newPage();
  page.on("pageerror", (err) => pageErrors.push(String(err)));
  return page;
}

/** The elements wider than the viewport (none: the page does not scroll sideways). */
async function tooWide(page, selector = "body *") {
  return page.evaluate((sel) => {
    const width = document.documentElement.clientWidth;
    return [...document.querySelectorAll(sel)]
      .filter((el) => el.getBoundingClientRect().right > width + 1)
      .map((el) => `${el.tagName.toLowerCase()}.${el.className}`)
      .slice(0, 10);
  }, selector);
}

before(async () => {
  server = await startServer({ JOB_CONCURRENCY: "1" });
  browser = await launchBrowser();
  jobs.alpha = await split("alpha song.wav", 4);
  jobs.beta = await split("beta song.wav", 4);
  jobs.gamma = await split("gamma song.wav", 4);
  for (const j of [jobs.alpha, jobs.beta, jobs.gamma]) assert.equal((await finished(j)).status, "succeeded");
});

after(async () => {
  if (process.env.E2E_SERVER_LOG) console.log(server?.logs.join("").split("\n").filter((l) => !l.includes(" INFO ")).slice(-60).join("\n"));
  await browser?.close();
  await server?.stop();
  assert.deepEqual(pageErrors, []);
});

describe("songs: history, dead links, try again, estimates", () => {
  test("history rows show length, stem count and when the files expire; search asks the server", async () => {
    const page = await newPage(1440, 900);
    await page.goto(server.base + "/history");
    const row = page.locator(`[data-testid="history-${jobs.alpha.job_id}"]`);
    await row.waitFor();
    assert.equal(await page.textContent(`[data-testid="history-duration-${jobs.alpha.job_id}"]`), "0:04");
    assert.match(await row.textContent(), /2 stems/);
    assert.match(await page.textContent(`[data-testid="history-expiry-${jobs.alpha.job_id}"]`), /^Files kept until .* \(in 2[34] h\)$/);

    const searched = page.waitForRequest((r) => r.url().includes("/api/jobs?") && r.url().includes("q=BETA"));
    await page.fill('[data-testid="history-search"]', "BETA");
    await searched;
    await until(async () => (await page.locator('[data-testid="history"] tbody tr').count()) === 1, { what: "one search hit" });
    assert.ok(await page.locator(`[data-testid="history-${jobs.beta.job_id}"]`).isVisible());
    await page.fill('[data-testid="history-search"]', "");
    await until(async () => (await page.locator('[data-testid="history"] tbody tr').count()) === 3, { what: "all rows back" });
    await page.screenshot({ path: screenshotPath("history.png"), fullPage: true });
    await page.context().close();
  });

  test("rename and delete in the history (desktop)", async () => {
    const page = await newPage(1440, 900);
    await page.goto(server.base + "/history");
    const id = jobs.alpha.job_id;
    await page.click(`[data-testid="rename-${id}"]`);
    await page.fill(`[data-testid="rename-input-${id}"]`, "  My first   mix ");
    assert.deepEqual(await axeViolations(page), [], "axe with the rename form open");
    await page.click(`[data-testid="rename-save-${id}"]`);
    await until(async () => (await page.textContent(`[data-testid="history-title-${id}"]`)) === "My first mix", { what: "renamed" });
    await page.reload();
    assert.equal(await page.textContent(`[data-testid="history-title-${id}"]`), "My first mix");
    await page.fill('[data-testid="history-search"]', "first mix");
    await until(async () => (await page.locator('[data-testid="history"] tbody tr').count()) === 1, { what: "found by its new name" });
    await page.fill('[data-testid="history-search"]', "");

    const gone = jobs.beta.job_id;
    await page.locator(`[data-testid="history-${gone}"]`).waitFor();
    await page.click(`[data-testid="delete-${gone}"]`);
    assert.deepEqual(await axeViolations(page), [], "axe with the delete confirmation open");
    await page.click(`[data-testid="delete-confirm-${gone}"]`);
    await page.locator(`[data-testid="history-${gone}"]`).waitFor({ state: "detached" });
    assert.match(await page.textContent('[data-testid="history-notice"]'), /Deleted beta song\.wav/);
    const after = await status(jobs.beta);
    assert.equal(after.code, 410);
    assert.match(after.body.detail, /was deleted/);
    await page.reload();
    await page.locator(`[data-testid="history-${id}"]`).waitFor();
    assert.equal(await page.locator(`[data-testid="history-${gone}"]`).count(), 0);

    // The stems page shows the new name.
    await page.goto(`${server.base}/stems/${id}`);
    await page.locator('[data-testid="stems-job"][data-status="succeeded"] h1').waitFor();
    assert.equal(await page.textContent('[data-testid="stems-job"] h1'), "My first mix");
    assert.match(await page.textContent('[data-testid="job-expiry"]'), /^Files kept until/);
    await page.context().close();
  });

  test("rename and delete in the history on a phone: no sideways scrolling", async () => {
    const page = await newPage(390, 844);
    await page.goto(server.base + "/history");
    const id = jobs.gamma.job_id;
    await page.locator(`[data-testid="history-${id}"]`).waitFor();
    assert.deepEqual(await tooWide(page), [], "the history fits 390 px");
    await page.tap(`[data-testid="rename-${id}"]`);
    await page.fill(`[data-testid="rename-input-${id}"]`, "Phone take");
    await page.keyboard.press("Enter");
    await until(async () => (await page.textContent(`[data-testid="history-title-${id}"]`)) === "Phone take", { what: "renamed on a phone" });
    await page.screenshot({ path: screenshotPath("history-phone.png"), fullPage: true });
    await page.tap(`[data-testid="delete-${id}"]`);
    await page.tap(`[data-testid="delete-confirm-${id}"]`);
    await page.locator(`[data-testid="history-${id}"]`).waitFor({ state: "detached" });
    assert.equal((await status(jobs.gamma)).code, 410);
    assert.deepEqual(await tooWide(page), []);
    await page.context().close();
  });

  test("a deleted job's link and a link that never existed each say what happened and offer the upload page", async () => {
    for (const [width, height] of [[1440, 900], [390, 844]]) {
      const page = await newPage(width, height);
      await page.goto(server.base + "/history");
      // The deleted job is no longer listed: give this browser its token as the browser that made it had it.
      await page.evaluate(([id, tok]) => {
        const tokens = JSON.parse(localStorage.getItem("burntbeats:tokens") ?? "{}");
        localStorage.setItem("burntbeats:tokens", JSON.stringify({ ...tokens, [id]: tok }));
      }, [jobs.beta.job_id, jobs.beta.job_token]);
      await page.goto(`${server.base}/stems/${jobs.beta.job_id}`);
      const deleted = page.locator('[data-testid="job-link-problem"][data-problem="deleted"]');
      await deleted.waitFor();
      assert.match(await deleted.textContent(), /was deleted on .* UTC/); // the server's sentence, with the date
      assert.deepEqual(await axeViolations(page), [], "axe on the deleted job's page");
      if (width > 1000) await page.screenshot({ path: screenshotPath("job-deleted.png"), fullPage: true });

      await page.goto(`${server.base}/stems/0123456789abcdef0123456789abcdef`);
      const unknown = page.locator('[data-testid="job-link-problem"][data-problem="unknown"]');
      await unknown.waitFor();
      assert.match(await unknown.textContent(), /never existed/);
      assert.deepEqual(await tooWide(page), [], `nothing wider than ${width} px`);
      await page.click('[data-testid="job-link-upload"]');
      await page.waitForURL(`${server.base}/`);
      await page.locator('[data-testid="split-drop"]').waitFor();
      await page.context().close();
    }
  });

  test("a queued job shows a time estimate from the measured speed; a cancelled one can be tried again", async () => {
    const long = await split("long song.wav", 60); // one worker: it runs while the next one waits
    const queued = await split("queued song.wav", 4);
    const page = await newPage(1440, 900);
    await page.goto(server.base + "/history");
    await page.locator(`[data-testid="history-${queued.job_id}"]`).waitFor(); // this browser learned its token
    await page.goto(`${server.base}/stems/${queued.job_id}`);
    const eta = page.locator('[data-testid="job-eta"]');
    await eta.waitFor({ timeout: 30_000 }).catch(async (err) => {
      console.log("queued:", JSON.stringify((await status(queued)).body), "long:", JSON.stringify((await status(long)).body));
      throw err;
    });
    const text = await eta.textContent();
    assert.match(text, /^(About \d+ (s|min)|A few seconds) (until done|left)$/, text);
    const cancelled = await fetch(`${server.base}/api/jobs/${queued.job_id}/cancel`, { method: "POST", headers: { "X-Job-Token": queued.job_token } });
    assert.equal(cancelled.status, 200);
    await page.locator('[data-testid="stems-job"][data-status="cancelled"]').waitFor({ timeout: 30_000 });
    await page.click('[data-testid="job-retry"]');
    await page.waitForURL((url) => /\/stems\/[0-9a-f]+$/.test(url.pathname) && !url.pathname.endsWith(queued.job_id), { timeout: 30_000 });
    await page.locator('[data-testid="stems-job"][data-status="succeeded"]').waitFor({ timeout: 180_000 });
    assert.equal(await page.textContent('[data-testid="stems-job"] h1'), "queued song.wav");
    assert.equal((await finished(long)).status, "succeeded");
    await page.context().close();
  });

  test("the MIDI page's stems-job picker tells jobs of the same song apart", async () => {
    const again = await split("long song.wav", 4, { stems: 4 });
    await finished(again);
    const page = await newPage(1440, 900);
    await page.goto(server.base + "/midi");
    await page.click('[data-testid="midi-mode-stem"]');
    const picker = page.locator('[data-testid="midi-stems-job"]');
    await until(async () => (await picker.locator("option").count()) >= 3, { what: "stems jobs listed" });
    const labels = await picker.locator("option").allTextContents();
    assert.equal(new Set(labels).size, labels.length, `every option differs: ${labels.join(" | ")}`);
    assert.ok(labels.some((l) => /^long song\.wav — vocals, drums, bass, other · fast · /.test(l)), labels.join(" | "));
    assert.ok(labels.some((l) => /^long song\.wav — vocals, instrumental · fast · /.test(l)), labels.join(" | "));
    await page.context().close();
  });
});
