/**
 * Hosts made of Linux network namespaces, for tests across real (if virtual) hosts: N namespaces, each
 * with one veth link (`eth0`, its own address in a private /24) to a bridge that lives in a namespace
 * of its own, so nothing is ever added to, routed through or left behind in the root namespace.
 * Traffic only ever goes to these namespaces' own addresses and to loopback.
 *
 *   hub namespace:  br0 ── p0 ── p1 ── … (bridge ports; the peers' ends)
 *   host i:         lo, eth0 = SUBNET.(i+1)/24
 *
 * Needs root and iproute2 (`ip`, `tc`): without them `createHosts` throws an Error that says how to get
 * them (never a skip). Names carry this process's pid and a counter, so two suites can run at once;
 * namespaces left by a process that no longer exists (a test runner killed with SIGKILL) are swept
 * at the next `createHosts`. Teardown kills every process inside the namespaces and deletes them; it
 * runs from `teardown()` (call it in afterAll/afterEach) and, as a last resort, on process exit.
 * spec/backend-tcp.md §9.1, spec/performance.md §4.4.
 */
import { spawn, execFile, execFileSync, type ChildProcess } from 'node:child_process';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** The private subnet of the hosts' links; host i is SUBNET_PREFIX.(i+1). Only these namespaces use it. */
export const SUBNET_PREFIX = '10.213.0';
const PREFIX_LENGTH = 24;
/** Every namespace this harness makes starts with this, then `<pid>-<seq>-`. */
const NAME_PREFIX = 'collective-';
/** tbf's bucket (bytes): above a 64 KiB GSO segment, small enough that a 2 MiB transfer pays the rate. */
const TBF_BURST_BYTES = 128 * 1024;
/** tbf's queue bound, as the time a packet may wait (ms). */
const TBF_LATENCY_MS = 100;

let sequence = 0;
const live = new Set<Hosts>();

/** One namespace host: where its rank runs and the address others reach it at. */
export interface Host {
  readonly index: number;
  /** The namespace's name (`ip netns exec <namespace>`). */
  readonly namespace: string;
  /** Its address on the hosts' link (SUBNET_PREFIX.(index+1)). */
  readonly address: string;
  /** Its link's bridge-side end, in the hub namespace. */
  readonly port: string;
}

/** Options of {@link createHosts}. */
export interface HostsOptions {
  /** How many hosts (namespaces with a link each); 1–200. */
  readonly count: number;
  /** A tc rate for every link, both directions (e.g. '1gbit'); none by default. */
  readonly rate?: string;
}

function toolMissing(error: unknown, tool: string): Error | undefined {
  if ((error as NodeJS.ErrnoException).code !== 'ENOENT') return undefined;
  return new Error(
    `${tool} not found: the namespace host tests need iproute2 (apt-get install iproute2; .ci/run does) and root`,
  );
}

async function sh(argv: readonly string[]): Promise<string> {
  try {
    const { stdout } = await run(argv[0]!, argv.slice(1));
    return stdout;
  } catch (error) {
    const missing = toolMissing(error, argv[0]!);
    if (missing) throw missing;
    const stderr = (error as { stderr?: string }).stderr ?? '';
    throw new Error(`${argv.join(' ')} failed: ${stderr.trim() || String(error)}`);
  }
}

function shSync(argv: readonly string[]): string {
  try {
    return execFileSync(argv[0]!, argv.slice(1), { stdio: ['ignore', 'pipe', 'ignore'] }).toString();
  } catch {
    return ''; // teardown is best effort: a name already gone is the goal
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function namespaces(): string[] {
  return shSync(['ip', 'netns', 'list'])
    .split('\n')
    .map((line) => line.split(' ')[0]!)
    .filter((name) => name.startsWith(NAME_PREFIX));
}

/** Kills every process inside the namespace, then deletes it (its veth end, and so the pair, go with it). */
function removeNamespace(name: string): void {
  for (const pid of shSync(['ip', 'netns', 'pids', name]).split(/\s+/).filter(Boolean)) {
    try {
      process.kill(Number(pid), 'SIGKILL');
    } catch {
      // already gone
    }
  }
  shSync(['ip', 'netns', 'del', name]);
}

/** Namespaces of a test process that no longer exists (killed before its teardown ran). */
function sweepStale(): void {
  for (const name of namespaces()) {
    const owner = Number(name.slice(NAME_PREFIX.length).split('-')[0]);
    if (Number.isInteger(owner) && owner !== process.pid && !alive(owner)) removeNamespace(name);
  }
}

process.on('exit', () => {
  for (const hosts of live) hosts.teardownSync();
});

/** The namespace hosts of one test: start processes in them, limit, cut or remove their links. */
export class Hosts {
  readonly hosts: Host[];
  readonly hub: string;
  private readonly children = new Set<ChildProcess>();
  private torn = false;

  constructor(base: string, count: number) {
    this.hub = `${base}hub`;
    this.hosts = Array.from({ length: count }, (_, index) => ({
      index,
      namespace: `${base}h${index}`,
      address: `${SUBNET_PREFIX}.${index + 1}`,
      port: `p${index}`,
    }));
  }

  /**
   * Starts `node <args>` inside host `index`'s namespace (`ip netns exec`, which execs node: the child's
   * pid is node's) with exactly `env`, an IPC channel and piped output. Its own process group, so
   * teardown reaches anything it starts.
   */
  node(index: number, args: readonly string[], env: Record<string, string>): ChildProcess {
    return this.spawn(index, [process.execPath, ...args], env, true);
  }

  /**
   * Starts `argv` inside host `index`'s namespace, as {@link node} does; an IPC channel only with `ipc`
   * (a launcher given one would hand NODE_CHANNEL_FD on to processes that do not have that fd).
   */
  spawn(index: number, argv: readonly string[], env: Record<string, string>, ipc = false): ChildProcess {
    const host = this.host(index);
    const child = spawn('ip', ['netns', 'exec', host.namespace, ...argv], {
      env,
      detached: true,
      stdio: ipc ? ['ignore', 'pipe', 'pipe', 'ipc'] : ['ignore', 'pipe', 'pipe'],
    });
    this.children.add(child);
    child.once('exit', () => this.children.delete(child));
    return child;
  }

  /** Limits host `index`'s link to `rate` (a tc rate, e.g. '1gbit') in both directions, with tbf. */
  async limit(index: number, rate: string): Promise<void> {
    const host = this.host(index);
    const tbf = ['tbf', 'rate', rate, 'burst', String(TBF_BURST_BYTES), 'latency', `${TBF_LATENCY_MS}ms`];
    await sh(['tc', '-n', host.namespace, 'qdisc', 'replace', 'dev', 'eth0', 'root', ...tbf]);
    await sh(['tc', '-n', this.hub, 'qdisc', 'replace', 'dev', host.port, 'root', ...tbf]);
  }

  /** Removes host `index`'s rate limit (both directions); a link without one is left as it is. */
  async unlimit(index: number): Promise<void> {
    const host = this.host(index);
    for (const [ns, dev] of [
      [host.namespace, 'eth0'],
      [this.hub, host.port],
    ] as const) {
      if ((await sh(['tc', '-n', ns, 'qdisc', 'show', 'dev', dev])).includes('tbf')) {
        await sh(['tc', '-n', ns, 'qdisc', 'del', 'dev', dev, 'root']);
      }
    }
  }

  /** Cuts host `index`'s link silently: its eth0 goes down (no FIN, no RST reaches anyone). */
  async cut(index: number): Promise<void> {
    await sh(['ip', '-n', this.host(index).namespace, 'link', 'set', 'eth0', 'down']);
  }

  /** `ip netns del` of host `index`: removes the name only; processes inside keep the namespace alive. */
  async deleteName(index: number): Promise<void> {
    await sh(['ip', 'netns', 'del', this.host(index).namespace]);
  }

  /** Kills and deletes everything; idempotent, safe to call when creation failed half way. */
  async teardown(): Promise<void> {
    this.teardownSync();
  }

  /** {@link teardown}, synchronous (for the process-exit safety net). */
  teardownSync(): void {
    if (this.torn) return;
    this.torn = true;
    live.delete(this);
    for (const child of this.children) {
      try {
        process.kill(-child.pid!, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    for (const host of this.hosts) removeNamespace(host.namespace);
    removeNamespace(this.hub);
  }

  private host(index: number): Host {
    const host = this.hosts[index];
    if (!host) throw new Error(`no host ${index}: there are ${this.hosts.length}`);
    return host;
  }

  /** Builds the namespaces, the bridge and the links (called by createHosts). */
  async build(rate: string | undefined): Promise<void> {
    await sh(['ip', 'netns', 'add', this.hub]);
    await sh(['ip', '-n', this.hub, 'link', 'add', 'br0', 'type', 'bridge']);
    await sh(['ip', '-n', this.hub, 'link', 'set', 'br0', 'up']);
    for (const host of this.hosts) {
      const ns = host.namespace;
      await sh(['ip', 'netns', 'add', ns]);
      await sh([
        'ip',
        '-n',
        this.hub,
        'link',
        'add',
        host.port,
        'type',
        'veth',
        'peer',
        'name',
        'eth0',
        'netns',
        ns,
      ]);
      await sh(['ip', '-n', this.hub, 'link', 'set', host.port, 'master', 'br0', 'up']);
      await sh(['ip', '-n', ns, 'addr', 'add', `${host.address}/${PREFIX_LENGTH}`, 'dev', 'eth0']);
      await sh(['ip', '-n', ns, 'link', 'set', 'lo', 'up']);
      await sh(['ip', '-n', ns, 'link', 'set', 'eth0', 'up']);
      if (rate !== undefined) await this.limit(host.index, rate);
    }
  }
}

/**
 * Creates `count` namespace hosts joined by a bridge (see the file comment). Throws an Error naming
 * the missing tool when `ip`/`tc` are absent, or the failing command; whatever was built is removed.
 */
export async function createHosts(options: HostsOptions): Promise<Hosts> {
  const { count, rate } = options;
  if (!Number.isInteger(count) || count < 1 || count > 200)
    throw new Error(`count must be 1–200, got ${count}`);
  await sh(['ip', '-V']); // a clear "not found" before anything else
  sweepStale();
  const hosts = new Hosts(`${NAME_PREFIX}${process.pid}-${sequence++}-`, count);
  live.add(hosts);
  try {
    await hosts.build(rate);
  } catch (error) {
    hosts.teardownSync();
    throw error;
  }
  return hosts;
}
