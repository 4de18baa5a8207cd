/**
 * Does a new VPC's range collide with one the DigitalOcean account has? Pure. DigitalOcean refuses
 * a VPC whose range overlaps another of the account's (its default VPCs take 10.1xx.0.0/20 ranges,
 * 10.110.0.0/20 among them, iac/digitalocean's default), and it reserves 10.244.0.0/16,
 * 10.245.0.0/16 and 10.246.0.0/24 for itself.
 */

/** The default range of iac/digitalocean (variables.tf's vpc_cidr). */
export const defaultVpcRange = "10.110.0.0/20";

export const reservedRanges = ["10.244.0.0/16", "10.245.0.0/16", "10.246.0.0/24"];

export interface AccountVpc {
  name: string;
  ipRange: string;
}

/** First and last address of an IPv4 CIDR block, as numbers. */
export function cidrBounds(cidr: string): [number, number] {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\/(\d{1,2})$/.exec(cidr);
  if (!m) throw new Error(`not an IPv4 CIDR block: ${cidr}`);
  const bits = Number(m[5]);
  const address = m.slice(1, 5).reduce((n, octet) => n * 256 + Number(octet), 0);
  const size = 2 ** (32 - bits);
  const start = address - (address % size);
  return [start, start + size - 1];
}

const overlap = (a: string, b: string) => {
  const [a0, a1] = cidrBounds(a);
  const [b0, b1] = cidrBounds(b);
  return a0 <= b1 && b0 <= a1;
};

const dotted = (n: number) =>
  [24, 16, 8, 0].map((shift) => Math.floor(n / 2 ** shift) % 256).join(".");

/**
 * The account's VPCs (and DigitalOcean's reserved ranges) that `wanted` overlaps, the target's
 * own VPC (`ownName`, made by an earlier bring-up) aside; and, when there are any, the first free
 * block of the same size in 10.0.0.0/8 to choose instead.
 */
export function vpcCollisions(
  wanted: string,
  vpcs: readonly AccountVpc[],
  ownName: string,
): { overlaps: AccountVpc[]; instead?: string } {
  const taken = [
    ...vpcs.filter((v) => v.name !== ownName),
    ...reservedRanges.map((r) => ({ name: "reserved by DigitalOcean", ipRange: r })),
  ];
  const overlaps = taken.filter((v) => overlap(wanted, v.ipRange));
  if (overlaps.length === 0) return { overlaps };
  const bits = Number(wanted.split("/")[1]);
  const size = 2 ** (32 - bits);
  const [first, last] = cidrBounds("10.0.0.0/8");
  for (let start = first; start + size - 1 <= last; start += size) {
    const candidate = `${dotted(start)}/${bits}`;
    if (!taken.some((v) => overlap(candidate, v.ipRange))) return { overlaps, instead: candidate };
  }
  return { overlaps };
}
