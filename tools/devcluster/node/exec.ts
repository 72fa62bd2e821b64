// `devcluster exec [-c CONTAINER] NS/POD -- CMD...`: runs CMD inside a running pod.
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { execInContainer } from './exec-in.js';

interface ContainersFile {
  main: string[];
  defaultContainer?: string;
  running: Record<string, { pid: number; uid: number; gid: number; path: string[] }>;
}

function fail(msg: string): never {
  process.stderr.write(`devcluster exec: ${msg}\n`);
  process.exit(1);
}

const { values, positionals } = parseArgs({
  options: { state: { type: 'string' }, pod: { type: 'string' }, container: { type: 'string', default: '' } },
  allowPositionals: true,
});
const [ns, name] = (values.pod ?? '').split('/');
const base = path.join(values.state ?? '.devcluster', 'node', 'pods', ns ?? '');
const dirs = fs.existsSync(base) ? fs.readdirSync(base).filter((d) => d.startsWith(`${name}-`) && d.length === name.length + 9) : [];
let found: { file: ContainersFile; dir: string } | undefined;
for (const d of dirs) {
  const f = path.join(base, d, 'containers.json');
  if (!fs.existsSync(f)) continue;
  const file = JSON.parse(fs.readFileSync(f, 'utf8')) as ContainersFile;
  if (Object.keys(file.running).length) found = { file, dir: d };
}
if (!found) fail(`pod ${values.pod} is not running on the devcluster node`);
// Like kubectl exec: the default-container annotation, else the first regular container.
const names = Object.keys(found.file.running);
const want = values.container || found.file.defaultContainer || found.file.main[0];
const target = found.file.running[want ?? ''];
if (!target) fail(`container "${want}" of pod ${values.pod} is not running (running: ${names.join(', ')})`);
const code = await execInContainer({ pid: target.pid, uid: target.uid, gid: target.gid, path: target.path, argv: positionals, stdio: 'inherit' });
process.exit(code);
