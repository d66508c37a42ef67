// Validates GLB files with the Khronos glTF validator and prints one JSON report per
// file, as a JSON array on stdout: [{"file": ..., "report": {...}}]. Exit 0 even when
// a file has errors: the caller reads the report's issues.numErrors.
//
// External resources are looked up only as bare file names in the GLB's own folder (the
// content-addressed textures our pipeline writes beside it); any other URI is a defect.
import { readFile } from "node:fs/promises";
import path from "node:path";
import validator from "gltf-validator";

const BARE_NAME = /^[A-Za-z0-9._-]+$/;

const files = process.argv.slice(2);
const results = [];
for (const file of files) {
  const bytes = new Uint8Array(await readFile(file));
  const report = await validator.validateBytes(bytes, {
    uri: file,
    maxIssues: 200,
    externalResourceFunction: async (uri) => {
      if (!BARE_NAME.test(uri) || uri.startsWith(".")) {
        throw new Error(`external resource ${uri} is not a file beside the GLB`);
      }
      return new Uint8Array(await readFile(path.join(path.dirname(file), uri)));
    },
  });
  results.push({ file, report });
}
process.stdout.write(JSON.stringify(results));
