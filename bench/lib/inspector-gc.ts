/**
 * A full garbage collection in another Node process, through its inspector (the process runs
 * with `--inspect=127.0.0.1:0`; its stderr names the WebSocket URL): one Chrome DevTools
 * Protocol session, `HeapProfiler.collectGarbage`, closed again. The heap figures read right
 * after it are the live heap, not live + whatever garbage the last GC left.
 *
 * The benchmark uses it twice per run (before and after registering contacts); no session stays
 * attached while CPU is measured.
 */

/** The `ws://127.0.0.1:<port>/<uuid>` a Node process printed for `--inspect`, from its output. */
export function inspectorUrl(output: string): string | undefined {
  return /Debugger listening on (ws:\/\/\S+)/.exec(output)?.[1];
}

/** Runs `HeapProfiler.collectGarbage` `times` times in the process behind `wsUrl`. Rejects after `timeoutMs`. */
export async function collectGarbage(wsUrl: string, times = 2, timeoutMs = 20_000): Promise<void> {
  const ws = new WebSocket(wsUrl);
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    await new Promise<void>((resolve, reject) => {
      timer = setTimeout(() => reject(new Error(`inspector ${wsUrl}: no GC within ${timeoutMs} ms`)), timeoutMs);
      let id = 0;
      const sendNext = (): void => {
        id++;
        ws.send(JSON.stringify({ id, method: 'HeapProfiler.collectGarbage' }));
      };
      ws.addEventListener('open', sendNext);
      ws.addEventListener('error', () => reject(new Error(`inspector ${wsUrl}: WebSocket error`)));
      ws.addEventListener('message', (ev: MessageEvent) => {
        const msg = JSON.parse(String(ev.data)) as { id?: number; error?: { message?: string } };
        if (msg.id !== id) return;
        if (msg.error !== undefined) return reject(new Error(`inspector: ${msg.error.message ?? 'error'}`));
        if (id < times) sendNext();
        else resolve();
      });
    });
  } finally {
    clearTimeout(timer);
    ws.close();
  }
}
