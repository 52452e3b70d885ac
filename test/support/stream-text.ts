import type { Readable } from 'node:stream';

/** Everything a stream carries, once every writer has closed it (a pipe a test must assert, not print). */
export function streamText(stream: Readable): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = '';
    stream.setEncoding('utf8');
    stream.on('data', (chunk: string) => (text += chunk));
    stream.once('error', reject);
    stream.once('end', () => resolve(text));
  });
}
