// The metrics the log's observer feeds (src/http/metrics.ts), read back as
// Prometheus text.
import { createMetrics } from '../../src/http/metrics.js';

/** The value of the unlabelled sample `name` in the registry's text. */
async function sample(metrics: ReturnType<typeof createMetrics>, name: string): Promise<number | undefined> {
  const line = (await metrics.registry.metrics()).split('\n').find((l) => l.startsWith(`${name} `));
  return line === undefined ? undefined : Number(line.slice(name.length + 1));
}

test('the leaf filter gauges follow what the log tells, including a filter that gave up', async () => {
  const metrics = createMetrics({ processMetrics: false });
  metrics.observer.filterChanged!({ ready: true, bytes: 131072 });
  expect(await sample(metrics, 'cairn_leaf_filter_ready')).toBe(1);
  expect(await sample(metrics, 'cairn_leaf_filter_bytes')).toBe(131072);
  metrics.observer.filterChanged!({ ready: false, bytes: 262144 });
  expect(await sample(metrics, 'cairn_leaf_filter_ready')).toBe(0);
  expect(await sample(metrics, 'cairn_leaf_filter_bytes')).toBe(262144);
});

test('a committed round moves the tree size and the entry counters', async () => {
  const metrics = createMetrics({ processMetrics: false });
  metrics.observer.roundCommitted!({ entries: 5, duplicates: 2, seconds: 0.004, treeSize: 42 });
  expect(await sample(metrics, 'cairn_tree_size')).toBe(42);
  const text = await metrics.registry.metrics();
  expect(text).toMatch(/^cairn_entries_total\{result="new"\} 5$/m);
  expect(text).toMatch(/^cairn_entries_total\{result="duplicate"\} 2$/m);
});
