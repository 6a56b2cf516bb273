// Recycling with real Chromium: L=3 with 2 workers, 15 sequential sessions. No session fails, and
// the two workers never recycle at the same time (from the server's own log of each recycle).
// With L=3 a worker reaches its limit every ~2 sessions (about 2 s here), which is faster than a
// cold Chromium launch on a loaded 2-core machine (1 to 4 s); the test therefore keeps two warm
// spare browsers (SPARE_BROWSERS=2) so that each replacement is already running when needed.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { session, startGrid, startPageServer, stopGrid } from './grid_harness.mjs';

let grid;
let pages;

before(async () => {
  pages = await startPageServer();
  grid = await startGrid({
    LOCAL_WORKERS: '2', SPARE_BROWSERS: '2', MAX_LIFETIME_SESSIONS: '3', WORKER_SELECT_TIMEOUT: '12',
  });
});

after(async () => {
  if (grid) await stopGrid(grid);
  if (pages) pages.close();
});

test('15 sequential sessions with L=3 on 2 workers: all succeed, recycles never overlap', async () => {
  const pageUrl = `http://127.0.0.1:${pages.address().port}/recycle`;
  for (let i = 0; i < 15; i++) {
    const { title } = await session(`ws://127.0.0.1:${grid.port}/`, pageUrl);
    assert.equal(title, 'recycle', `session ${i}`);
  }
  // Wait (bounded) for the last drain to finish.
  for (let i = 0; i < 100; i++) {
    const starts = grid.lines.filter((l) => l.msg === 'Recycling worker: shutdown_command').length;
    const ends = grid.lines.filter((l) => l.msg === 'Worker stopped' && l.reason !== 'agent_stop').length;
    if (starts === ends) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  // A worker is "recycling" from its shutdown command until its browser is stopped.
  const intervals = new Map();
  for (const l of grid.lines) {
    if (l.msg === 'Recycling worker: shutdown_command') intervals.set(l.workerId, { start: l.t, end: Infinity });
    if (l.msg === 'Worker stopped' && intervals.has(l.workerId)) intervals.get(l.workerId).end = l.t;
  }
  const list = [...intervals.values()].sort((a, b) => a.start - b.start);
  assert.ok(list.length >= 4, `expected at least 4 recycles of 15 sessions with L=3, saw ${list.length}`);
  for (let i = 1; i < list.length; i++) {
    assert.ok(list[i].start >= list[i - 1].end, `recycles ${i - 1} and ${i} overlap`);
  }
});
