// Writes src/lib/api-types.ts from the API's OpenAPI document (scripts/openapi.py: no server needed);
// with --check, only says whether the committed file is up to date (exit 1 when it is stale).
import { execFileSync, spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";

const web = fileURLToPath(new URL("..", import.meta.url));
const check = process.argv.includes("--check");
const python = process.env.BURNTBEATS_PYTHON || "../.venv/bin/python";

let openapi;
try {
  openapi = execFileSync(python, ["../scripts/openapi.py"], { cwd: web, encoding: "utf8", maxBuffer: 64 << 20, stdio: ["ignore", "pipe", "inherit"] });
} catch {
  console.error(`Could not print the OpenAPI document with ${python} (set BURNTBEATS_PYTHON, or run \`make api-types\`).`);
  process.exit(2);
}

const generator = spawnSync(
  "node_modules/.bin/openapi-typescript",
  ["-o", "src/lib/api-types.ts", ...(check ? ["--check"] : [])],
  { cwd: web, input: openapi, stdio: ["pipe", "inherit", "inherit"] },
);
if (check && generator.status !== 0) {
  console.error("web/src/lib/api-types.ts is stale (the API changed): run `make api-types` and commit it.");
}
process.exit(generator.status ?? 1);
