// Validates GLB files with the Khronos glTF validator and prints one JSON report per
// file, as a JSON array on stdout: [{"file": ..., "report": {...}}]. Exit 0 even when
// a file has errors: the caller reads the report's issues.numErrors.
import { readFile } from "node:fs/promises";
import validator from "gltf-validator";

const files = process.argv.slice(2);
const results = [];
for (const file of files) {
  const bytes = new Uint8Array(await readFile(file));
  const report = await validator.validateBytes(bytes, {
    uri: file,
    maxIssues: 200,
    // Our GLBs are self-contained: any external resource is itself a defect.
    externalResourceFunction: (uri) => Promise.reject(new Error(`external resource ${uri}`)),
  });
  results.push({ file, report });
}
process.stdout.write(JSON.stringify(results));
