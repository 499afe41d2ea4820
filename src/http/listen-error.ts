/** A failed listen on PORT, in words that name the setting and the fix; other errors as they are. */
export function listenError(err: unknown, port: number): unknown {
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'EADDRINUSE') return new Error(`PORT ${port} is already in use: set PORT to a free port.`);
  if (code === 'EACCES') return new Error(`PORT ${port} needs privileges this process lacks: set PORT above 1023.`);
  return err;
}
