// Composes subgraph SDL files with Apollo Federation's own composition (@apollo/composition's
// composeServices, satisfiability included) and compares the supergraph's API schema with a schema
// file (the monolith's committed SDL). Both are printed by graphql-js after lexicographicSortSchema,
// so only the schema's content counts, not its order.
//   node .ci/federation_compose.mjs MODULES_DIR SCHEMA_FILE NAME=SUBGRAPH_FILE...
// Exits 1 on a composition error or a difference (printed), 2 on bad arguments.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';

const [modulesDir, schemaFile, ...pairs] = process.argv.slice(2);
if (!modulesDir || !schemaFile || pairs.length === 0) {
  console.error('usage: federation_compose.mjs MODULES_DIR SCHEMA_FILE NAME=SUBGRAPH_FILE...');
  process.exit(2);
}
// One graphql-js for the composition and for this script (its classes are checked with instanceof).
const require = createRequire(path.resolve(modulesDir, 'package.json'));
const { composeServices } = require('@apollo/composition');
const { buildSchema, lexicographicSortSchema, parse, printSchema } = require('graphql');
const compositionVersion = require('@apollo/composition/package.json').version;

const services = pairs.map((pair) => {
  const [name, file] = pair.split('=');
  return { name, url: `http://${name}.invalid/graphql`, typeDefs: parse(readFileSync(file, 'utf8')) };
});
console.log(`federation_compose: @apollo/composition ${compositionVersion}, subgraphs: ${services.map((s) => s.name).join(', ')}`);

const result = composeServices(services);
for (const hint of result.hints ?? []) {
  console.log(`  hint ${hint.definition.code}: ${hint.message}`);
}
if (result.errors) {
  for (const error of result.errors) {
    console.error(`  error ${error.extensions?.code ?? ''}: ${error.message}`);
  }
  console.error(`federation_compose: composition failed with ${result.errors.length} error(s)`);
  process.exit(1);
}

const canonical = (schema) => printSchema(lexicographicSortSchema(schema));
const api = canonical(buildSchema(canonical(result.schema.toAPISchema().toGraphQLJSSchema())));
const monolith = canonical(buildSchema(readFileSync(schemaFile, 'utf8')));
if (api === monolith) {
  const types = Object.keys(buildSchema(api).getTypeMap()).filter((n) => !n.startsWith('__')).length;
  console.log(`federation_compose: composed; the supergraph's API schema equals ${schemaFile} (${types} types)`);
  process.exit(0);
}

// Not equal: the lines only on one side, a few of each.
const apiLines = api.split('\n');
const monolithLines = monolith.split('\n');
const onlyIn = (lines, other) => {
  const counts = new Map();
  for (const line of other) counts.set(line, (counts.get(line) ?? 0) + 1);
  return lines.filter((line) => {
    const left = counts.get(line) ?? 0;
    if (left > 0) { counts.set(line, left - 1); return false; }
    return true;
  });
};
const extra = onlyIn(apiLines, monolithLines);
const missing = onlyIn(monolithLines, apiLines);
for (const line of extra.slice(0, 20)) console.error(`  only in the supergraph: ${line}`);
for (const line of missing.slice(0, 20)) console.error(`  only in ${schemaFile}: ${line}`);
console.error(`federation_compose: the supergraph's API schema differs from ${schemaFile} `
  + `(${extra.length} line(s) only in the supergraph, ${missing.length} only in the file)`);
process.exit(1);
