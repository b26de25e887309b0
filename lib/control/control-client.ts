import { request } from 'node:http';

/** The recorder is not running (no control socket, or nobody listening on it). */
export class RecorderNotRunningError extends Error {
  override readonly name = 'RecorderNotRunningError';
}

/** One JSON request to the running recorder's control socket. */
export function controlRequest<T>(socketPath: string, method: 'GET' | 'POST', urlPath: string, timeoutMs = 5000): Promise<{ status: number; body: T }> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath, path: urlPath, method, timeout: timeoutMs }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        try {
          resolve({ status: res.statusCode ?? 0, body: JSON.parse(Buffer.concat(chunks).toString('utf8')) as T });
        } catch (err) {
          reject(err instanceof Error ? err : new Error(String(err)));
        }
      });
    });
    req.on('timeout', () => req.destroy(new RecorderNotRunningError(`callrec is not responding on ${socketPath}`)));
    req.on('error', (err: NodeJS.ErrnoException) => {
      if (err instanceof RecorderNotRunningError) reject(err);
      else if (err.code === 'ENOENT' || err.code === 'ECONNREFUSED' || err.code === 'ENOTSOCK') {
        reject(new RecorderNotRunningError(`callrec is not running (no control socket at ${socketPath})`));
      } else reject(err);
    });
    req.end();
  });
}
