/**
 * The TCP load balancer in front of the replicas' database gateways: round-robin, passing
 * a connection to the next gateway when one refuses it (a replica down). What a contractor's
 * login names as its host and port (GATEHOUSE_GATEWAY_PUBLIC_ADDRESS).
 */
import net from 'node:net';
import type { AddressInfo } from 'node:net';

export interface TcpFront {
  port: number;
  stop(): Promise<void>;
}

export async function startTcpFront(ports: () => readonly number[]): Promise<TcpFront> {
  let next = 0;
  const open = new Set<net.Socket>();
  const server = net.createServer((client) => {
    open.add(client);
    client.pause();
    const targets = ports();
    const attempt = (tries: number) => {
      const port = targets[next++ % targets.length]!;
      const upstream = net.connect(port, '127.0.0.1');
      upstream.once('connect', () => {
        open.add(upstream);
        const close = () => {
          open.delete(client);
          open.delete(upstream);
          client.destroy();
          upstream.destroy();
        };
        client.on('error', close).on('close', close);
        upstream.on('error', close).on('close', close);
        client.pipe(upstream);
        upstream.pipe(client);
        client.resume();
      });
      upstream.once('error', () => {
        if (upstream.connecting || !open.has(upstream)) {
          if (tries + 1 < targets.length) attempt(tries + 1);
          else client.destroy();
        }
      });
    };
    attempt(0);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    async stop() {
      for (const socket of open) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
