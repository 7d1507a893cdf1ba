// Bundle the anywidget ESM modules and the shared stylesheet into ../rmx_widgets/static/.
import * as esbuild from "esbuild";
import { mkdirSync, statSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const outdir = join(here, "..", "rmx_widgets", "static");
mkdirSync(outdir, { recursive: true });

const entries = ["comparison_view", "attribute_picker", "annotator", "sensitivity_summary", "rewrite_table"];

await esbuild.build({
  absWorkingDir: here,
  entryPoints: Object.fromEntries(entries.map((name) => [name, join(here, "src", `${name}.ts`)])),
  outdir,
  bundle: true,
  format: "esm",
  target: "es2020",
  platform: "browser",
  minify: true,
  legalComments: "eof",
  logLevel: "warning",
});

await esbuild.build({
  absWorkingDir: here,
  entryPoints: [join(here, "src", "styles.css")],
  outfile: join(outdir, "widgets.css"),
  bundle: true,
  minify: true,
  logLevel: "warning",
});

// the RewriteTable's stylesheet: the shared one plus Tabulator's (only that widget loads it)
await esbuild.build({
  absWorkingDir: here,
  entryPoints: [join(here, "src", "rewrite_table", "table.css")],
  outfile: join(outdir, "rewrite_table.css"),
  bundle: true,
  minify: true,
  logLevel: "warning",
});

for (const file of [...entries.map((n) => `${n}.js`), "widgets.css", "rewrite_table.css"]) {
  const path = join(outdir, file);
  console.log(`${relative(process.cwd(), path).padEnd(48)} ${(statSync(path).size / 1024).toFixed(1)} KiB`);
}
