/**
 * The platform's resident memory from its /metrics (prom-client's default process metrics), or
 * undefined when the endpoint does not answer; the load tool takes it before and after connecting.
 */
export async function serverResidentBytes(baseUrl: string): Promise<number | undefined> {
  try {
    const response = await fetch(new URL('/metrics', baseUrl));
    if (!response.ok) return undefined;
    const line = (await response.text())
      .split('\n')
      .find((candidate) => candidate.startsWith('process_resident_memory_bytes '));
    const value = Number(line?.slice(line.lastIndexOf(' ') + 1));
    return Number.isFinite(value) ? value : undefined;
  } catch {
    return undefined;
  }
}
