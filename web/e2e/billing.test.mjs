// Plans and usage tokens in real headless Chromium against the real app with USAGE_TOKENS_ENABLED=1: the pricing page
// signed out, sign up, the balance in the top bar, the cost of a split before submitting (and what the Free plan does
// not allow, disabled with its sentence), the balance after, and the account page's ledger.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { axeViolations, launchBrowser, makeSong, PHONE, screenshotPath, sideScroll, startServer, tempFile } from "./harness.mjs";

let server;
let browser;
const pageErrors = [];
const PASSWORD = "a long enough password";

async function newPage() {
  const context = await browser.newContext({ viewport: { width: 1280, height: 860 } });
  const page = await context.newPage();
  page.on("pageerror", (err) => pageErrors.push(String(err)));
  return page;
}

const text = (page, id) => page.locator(`[data-testid="${id}"]`).innerText();

before(async () => {
  server = await startServer({ USAGE_TOKENS_ENABLED: "1", JOB_CONCURRENCY: "1" });
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await server?.stop();
  assert.deepEqual(pageErrors, []);
});

describe("plans and tokens", () => {
  test("the pricing page works signed out, then a split shows its cost and takes it from the balance", async () => {
    const page = await newPage();
    // Signed out: the pricing page reads the plan table from the API; the app's own pages are behind sign-in.
    await page.goto(server.base + "/pricing");
    await page.locator('[data-testid="plan-studio"]').waitFor();
    assert.equal(await page.locator('[data-testid="account-button"]').count(), 0);
    assert.match(await text(page, "plan-free-tokens"), /100 tokens every month/);
    assert.match(await text(page, "plan-pro"), /6 stems/);
    assert.match(await text(page, "cost-table"), /10 tokens a minute/);
    assert.deepEqual(await axeViolations(page), []);
    await page.screenshot({ path: screenshotPath("billing/pricing-signed-out.png"), fullPage: true });

    // Sign up from the pricing page's link.
    await page.click('[data-testid="pricing-sign-in"]');
    await page.locator('[data-testid="sign-in-form"]').waitFor();
    await page.click('[data-testid="to-sign-up"]');
    await page.fill('[data-testid="auth-email"]', "payer@example.com");
    await page.fill('[data-testid="auth-password"]', PASSWORD);
    await page.click('[data-testid="auth-submit"]');
    await page.locator('[data-testid="balance"]').waitFor();
    await page.waitForFunction(() => document.querySelector('[data-testid="balance-tokens"]')?.textContent === "100");

    // The split page: what Free does not allow is disabled with the server's sentence.
    await page.goto(server.base + "/");
    await page.locator('[data-testid="split-drop-input"]').waitFor({ state: "attached" });
    await page.locator('[data-testid="plan-limits"]').waitFor();
    assert.match(await text(page, "plan-limits"), /best quality needs the Pro plan/);
    assert.equal(await page.locator('[data-testid="quality"] option[value="best"]').isDisabled(), true);

    // A 20 s file, 4 stems, fast: 10 x 1/3 min x 1.5 x 0.5 = 2.5 -> 3 tokens, shown before anything is sent.
    await page.setInputFiles('[data-testid="split-drop-input"]', tempFile("paid song.wav", makeSong(20, 22050)));
    await page.check('[data-testid="stems-4"]');
    await page.selectOption('[data-testid="quality"]', "fast");
    await page.waitForFunction(() => document.querySelector('[data-testid="split-cost"]')?.dataset.cost === "3");
    assert.match(await text(page, "split-cost"), /Costs 3 tokens of your 100/);
    assert.match(await text(page, "split-cost"), /a 4-stem fast split of 0:20/);
    const jobs = await (await page.request.get(server.base + "/api/jobs")).json();
    assert.equal(jobs.jobs.length, 0); // nothing was submitted yet
    await page.screenshot({ path: screenshotPath("billing/split-cost.png"), fullPage: true });

    await page.click('[data-testid="split-submit"]');
    await page.waitForURL(/\/stems\/[0-9a-f]+$/, { timeout: 60_000 });
    await page.waitForFunction(() => document.querySelector('[data-testid="balance-tokens"]')?.textContent === "97", null, { timeout: 30_000 });

    // The job runs; the reservation is spent (settled), so the balance stays 97; the ledger shows each step.
    await page.locator('[data-testid="mixer"], [data-testid="job-error"]').first().waitFor({ timeout: 180_000 });
    assert.equal(await page.locator('[data-testid="job-error"]').count(), 0);
    await page.click('[data-testid="balance"]');
    await page.locator('[data-testid="account-page"]').waitFor();
    await page.locator('[data-testid="ledger-settle"]').waitFor({ timeout: 30_000 });
    assert.equal(await text(page, "account-balance"), "97");
    assert.equal(await text(page, "account-plan"), "Free");
    const rows = await page.$$eval('[data-testid="ledger"] tbody tr', (trs) => trs.map((tr) => tr.dataset.testid));
    assert.deepEqual(rows, ["ledger-settle", "ledger-reserve", "ledger-grant"]);
    assert.match(await page.locator('[data-testid="ledger-reserve"]').innerText(), /-3/);
    assert.deepEqual(await axeViolations(page), []);
    await page.screenshot({ path: screenshotPath("billing/account.png"), fullPage: true });

    // At a phone's width the top bar (menu, pricing, balance, account) and these pages do not scroll sideways.
    await page.setViewportSize(PHONE.viewport);
    for (const path of ["/account", "/pricing", "/"]) {
      await page.goto(server.base + path);
      await page.locator('[data-testid="balance"]').waitFor();
      assert.equal(await sideScroll(page), 0, path);
      await page.screenshot({ path: screenshotPath(`billing/phone${path === "/" ? "-split" : path.replace("/", "-")}.png`), fullPage: true });
    }
  });
});
