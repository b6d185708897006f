// Runs graphql-http's server audits (GraphQL over HTTP conformance) against GRAPHQL_AUDIT_URL.
// Every request carries GRAPHQL_AUDIT_TOKEN as a bearer token (the audits' anonymous `{ __type(...) }`
// would otherwise depend on GATEWAY_ENV). Prints each audit and the MUST/SHOULD/MAY counts; exits 1
// unless every MUST and every SHOULD passes.
import { serverAudits } from 'graphql-http';

const url = process.env.GRAPHQL_AUDIT_URL;
const token = process.env.GRAPHQL_AUDIT_TOKEN;
if (!url || !token) {
  console.error('graphql_http_audit: set GRAPHQL_AUDIT_URL and GRAPHQL_AUDIT_TOKEN');
  process.exit(2);
}

const fetchFn = (input, init = {}) => {
  const headers = new Headers(init.headers || {});
  headers.set('authorization', `Bearer ${token}`);
  return fetch(input, { ...init, headers, signal: AbortSignal.timeout(10000) });
};

const counts = { MUST: [0, 0], SHOULD: [0, 0], MAY: [0, 0] };
const failures = [];
for (const audit of serverAudits({ url, fetchFn })) {
  const result = await audit.fn();
  const level = audit.name.split(' ')[0];
  const bucket = counts[level] || (counts[level] = [0, 0]);
  bucket[1] += 1;
  if (result.status === 'ok') {
    bucket[0] += 1;
  } else {
    let body = '';
    try { body = result.response ? (await result.response.text()).slice(0, 300) : ''; } catch { /* already read */ }
    failures.push(`${result.status.toUpperCase()} ${audit.id} ${audit.name}: ${result.reason} ${body}`);
  }
}
for (const line of failures) console.log(line);
for (const [level, [passed, total]] of Object.entries(counts)) console.log(`${level}: ${passed}/${total} passed`);
const failed = ['MUST', 'SHOULD'].some((level) => counts[level][0] !== counts[level][1]);
process.exit(failed ? 1 : 0);
