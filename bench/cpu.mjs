// CPU time of other processes, from /proc (Linux only), so the benchmark can report what each hop costs
// per request in CPU — a figure that holds up on a busy machine better than throughput does.
import { readdirSync, readFileSync } from 'node:fs';

const TICKS_PER_SECOND = 100; // USER_HZ; 100 on every mainstream Linux build

function stat(pid) {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the parenthesised command name: state is field 3, utime 14, stime 15, ppid 4.
    const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
    return { ppid: Number(fields[1]), ticks: Number(fields[11]) + Number(fields[12]) };
  } catch {
    return undefined;
  }
}

/** The pid and its direct children (nginx's workers). */
export function withChildren(pid) {
  const pids = [pid];
  try {
    for (const entry of readdirSync('/proc')) {
      if (/^\d+$/.test(entry) && stat(entry)?.ppid === pid) pids.push(Number(entry));
    }
  } catch {}
  return pids;
}

/** Seconds of CPU (user + system) the processes have used so far; undefined where /proc is missing. */
export function cpuSeconds(pids) {
  let ticks = 0;
  for (const pid of pids) {
    const s = stat(pid);
    if (!s) return undefined;
    ticks += s.ticks;
  }
  return ticks / TICKS_PER_SECOND;
}
