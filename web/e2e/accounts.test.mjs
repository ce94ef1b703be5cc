// Accounts in real headless Chromium against the real app with AUTH_REQUIRED=1: sign up, sign out, sign in, split a
// file, see only your own history (a second account sees none of it), API keys; and with accounts off (the default)
// none of the account UI shows.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { axeViolations, launchBrowser, makeSong, screenshotPath, startServer, tempFile } from "./harness.mjs";

let server;
let browser;
const pageErrors = [];
const PASSWORD = "a long enough password";
let jobId;

async function newPage() {
  const context = await browser.newContext({ viewport: { width: 1280, height: 860 } });
  const page = await context.newPage();
  page.on("pageerror", (err) => pageErrors.push(String(err)));
  return page;
}

async function signUp(page, email) {
  await page.goto(server.base + "/");
  await page.locator('[data-testid="sign-in-form"]').waitFor();
  await page.click('[data-testid="to-sign-up"]');
  await page.locator('[data-testid="sign-up-form"]').waitFor();
  await page.fill('[data-testid="auth-email"]', email);
  await page.fill('[data-testid="auth-password"]', PASSWORD);
  await page.click('[data-testid="auth-submit"]');
  await page.locator('[data-testid="account-button"], [data-testid="auth-error"]').first().waitFor();
  assert.equal(await page.locator('[data-testid="auth-error"]').count(), 0, await page.textContent("main"));
}

async function historyIds(page) {
  await page.goto(server.base + "/history");
  await page.locator('[data-testid="history-search"]').waitFor();
  await page.waitForFunction(() => document.querySelector('[data-testid="history"]') || /No jobs/.test(document.body.innerText));
  return page.$$eval('[data-testid^="history-"][data-status]', (rows) => rows.map((r) => r.dataset.testid.slice("history-".length)));
}

before(async () => {
  server = await startServer({ AUTH_REQUIRED: "1", JOB_CONCURRENCY: "1" });
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await server?.stop();
  assert.deepEqual(pageErrors, []);
});

describe("accounts", () => {
  test("signed out, every page is the sign-in page, without the app's menu", async () => {
    const page = await newPage();
    await page.goto(server.base + "/history");
    await page.locator('[data-testid="sign-in-form"]').waitFor();
    assert.equal(await page.locator('nav[aria-label="Main"] a').count(), 0);
    assert.deepEqual(await axeViolations(page), []);
    await page.screenshot({ path: screenshotPath("accounts/sign-in.png") });
    const resp = await fetch(server.base + "/api/jobs");
    assert.equal(resp.status, 401);
    await page.context().close();
  });

  test("sign up, split a file, sign out and in again: the history is this account's", async () => {
    const page = await newPage();
    await signUp(page, "ann@example.com");
    assert.equal(await page.textContent('[data-testid="account-button"]'), "ann@example.com");
    await page.setInputFiles('[data-testid="split-drop-input"]', tempFile("ann song.wav", makeSong(3)));
    await page.locator('[data-testid="file-chosen"]').waitFor();
    await page.selectOption('[data-testid="quality"]', "fast");
    await page.click('[data-testid="split-submit"]');
    await page.waitForURL(/\/stems\/[0-9a-f]+$/, { timeout: 60_000 });
    jobId = page.url().split("/").pop();
    await page.locator('[data-testid="stems-job"][data-status="succeeded"]').waitFor({ timeout: 180_000 });
    await page.locator('[data-testid="mixer"][data-ready="true"]').waitFor({ timeout: 60_000 });
    assert.deepEqual(await historyIds(page), [jobId]);

    await page.click('[data-testid="account-button"]');
    await page.click('[data-testid="sign-out"]');
    await page.locator('[data-testid="sign-in-form"]').waitFor();
    await page.fill('[data-testid="auth-email"]', "ann@example.com");
    await page.fill('[data-testid="auth-password"]', "not the password");
    await page.click('[data-testid="auth-submit"]');
    assert.equal(await page.textContent('[data-testid="auth-error"]'), "Wrong email or password.");
    await page.fill('[data-testid="auth-password"]', PASSWORD);
    await page.click('[data-testid="auth-submit"]');
    await page.locator('[data-testid="account-button"]').waitFor();
    assert.deepEqual(await historyIds(page), [jobId]);
    await page.context().close();
  });

  test("another account sees none of it, not even by the job's link", async () => {
    const page = await newPage();
    await signUp(page, "bob@example.com");
    assert.deepEqual(await historyIds(page), []);
    assert.match(await page.textContent("main"), /No jobs yet/);
    await page.goto(`${server.base}/stems/${jobId}`);
    await page.waitForLoadState("networkidle");
    assert.equal(await page.locator('[data-testid="mixer"]').count(), 0);
    const probe = await page.evaluate(async (id) => (await fetch(`/api/stems/status/${id}?token=guess`)).status, jobId);
    assert.equal(probe, 404, "another account's job is as if it did not exist");
    await page.screenshot({ path: screenshotPath("accounts/other-account.png") });
    await page.context().close();
  });

  test("API keys: created once, used by a script, revoked", async () => {
    const page = await newPage();
    await page.goto(server.base + "/");
    await page.fill('[data-testid="auth-email"]', "ann@example.com");
    await page.fill('[data-testid="auth-password"]', PASSWORD);
    await page.click('[data-testid="auth-submit"]');
    await page.click('[data-testid="account-button"]');
    await page.click('[data-testid="account-keys"]');
    await page.fill('[data-testid="key-name"]', "my script");
    await page.click('[data-testid="key-create"]');
    const key = (await page.textContent('[data-testid="key-value"]')).trim();
    assert.match(key, /^bbk_/);
    const listed = await (await fetch(server.base + "/api/jobs", { headers: { Authorization: `Bearer ${key}` } })).json();
    assert.deepEqual(listed.jobs.map((j) => j.job_id), [jobId]);
    await page.reload();
    const row = page.locator('[data-testid^="key-used-"]');
    await row.waitFor();
    assert.notEqual(await row.textContent(), "never");
    assert.equal(await page.locator('[data-testid="key-value"]').count(), 0, "the key is shown only once");
    assert.deepEqual(await axeViolations(page), []);
    await page.screenshot({ path: screenshotPath("accounts/api-keys.png") });
    await page.click('[data-testid^="key-revoke-"]');
    await page.locator('[data-testid="keys-empty"]').waitFor();
    assert.equal((await fetch(server.base + "/api/jobs", { headers: { Authorization: `Bearer ${key}` } })).status, 401);
    await page.context().close();
  });

  test("with accounts off (the default) none of this shows", async () => {
    const plain = await startServer();
    try {
      const page = await newPage();
      const asked = page.waitForResponse((r) => r.url().endsWith("/api/auth/me"));
      await page.goto(plain.base + "/");
      await page.locator('[data-testid="split-submit"]').waitFor();
      assert.equal((await (await asked).json()).auth_required, false);
      assert.equal(await page.locator('[data-testid="account-button"]').count(), 0);
      assert.equal(await page.locator('[data-testid="sign-in-form"]').count(), 0);
      await page.context().close();
    } finally {
      await plain.stop();
    }
  });
});
