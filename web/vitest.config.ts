import { defineConfig } from "vitest/config";

// Unit tests: pure logic in src/lib (mixer rules, piano-roll editing, game rules). The browser
// end-to-end tests are separate (`npm run test:e2e`, e2e/*.test.mjs, real headless Chromium).
export default defineConfig({
  test: {
    include: ["src/**/*.test.ts"],
    environment: "node",
  },
});
