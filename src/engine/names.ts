/** Container ids and names the way Docker makes and checks them. */
import { randomBytes } from "node:crypto";
import { InvalidArgument } from "../errors.js";

export function newId(): string {
  return randomBytes(32).toString("hex");
}

export const shortId = (id: string) => id.slice(0, 12);

const NAME = /^\/?[a-zA-Z0-9][a-zA-Z0-9_.-]+$/;

export function validateName(name: string): string {
  if (!NAME.test(name))
    throw new InvalidArgument(`Invalid container name (${name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed`);
  return name.startsWith("/") ? name : `/${name}`;
}

// Word lists for generated names, in the spirit of Docker's adjective_scientist names.
const ADJECTIVES = [
  "agile",
  "bold",
  "brave",
  "bright",
  "calm",
  "clever",
  "cool",
  "crisp",
  "daring",
  "eager",
  "elated",
  "epic",
  "fervent",
  "fond",
  "gallant",
  "gentle",
  "happy",
  "hardy",
  "jolly",
  "keen",
  "kind",
  "lucid",
  "merry",
  "modest",
  "nimble",
  "noble",
  "patient",
  "quiet",
  "quirky",
  "rapid",
  "serene",
  "sharp",
  "shy",
  "steady",
  "sturdy",
  "sunny",
  "swift",
  "tender",
  "tidy",
  "upbeat",
  "vivid",
  "warm",
  "wise",
  "witty",
  "zealous",
  "zen",
];
const NAMES = [
  "agnesi",
  "babbage",
  "banach",
  "bohr",
  "boole",
  "cerf",
  "curie",
  "dijkstra",
  "einstein",
  "euler",
  "faraday",
  "fermat",
  "feynman",
  "galois",
  "gauss",
  "germain",
  "goodall",
  "hamilton",
  "hopper",
  "hypatia",
  "johnson",
  "kepler",
  "knuth",
  "lamarr",
  "lovelace",
  "maxwell",
  "meitner",
  "mirzakhani",
  "morse",
  "newton",
  "noether",
  "pascal",
  "ritchie",
  "shannon",
  "thompson",
  "turing",
  "villani",
  "wozniak",
  "yalow",
  "zuse",
];

export function randomName(taken: (name: string) => boolean): string {
  for (let attempt = 0; ; attempt++) {
    const [a, b] = randomBytes(2);
    let name = `${ADJECTIVES[a! % ADJECTIVES.length]}_${NAMES[b! % NAMES.length]}`;
    if (attempt > 10) name += String(randomBytes(1)[0]! % 10);
    if (!taken(`/${name}`)) return `/${name}`;
  }
}
