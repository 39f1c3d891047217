/**
 * Eureka's two wire formats over one object shape. JSON is EurekaJacksonCodec's; XML is Converters', which writes the
 * same names with `port`'s `$` as the element's text and `@enabled`/`@class` as attributes. The XML library reads and
 * writes that mapping directly (text node `$`, attributes prefixed `@`), so a request body in either format becomes
 * the same object and one answer object serializes to either.
 */
import XMLBuilder from 'fast-xml-builder';
import { XMLParser } from 'fast-xml-parser';
import { SyntaxValidator } from 'fast-xml-validator';
import { RegistryError } from '../errors/index.js';
import type { EurekaInstance } from './mapping.js';

export type EurekaFormat = 'json' | 'xml';

/** An application as answered: its name and its instances (always an array, even of one or none). */
export interface EurekaApplication {
  name: string;
  instance: EurekaInstance[];
}

/** `GET /apps/` and `/apps/delta`. */
export interface EurekaApplications {
  versions__delta: string;
  apps__hashcode: string;
  application: EurekaApplication[];
}

/** The three bodies Eureka answers: every application, one application, one instance. */
export type EurekaAnswer =
  { applications: EurekaApplications } | { application: EurekaApplication } | { instance: EurekaInstance };

const PARSER = new XMLParser({
  ignoreAttributes: false,
  attributeNamePrefix: '@',
  textNodeName: '$',
  // Values stay text: the mapping reads numbers itself, so "007" or "1e3" is never silently reinterpreted.
  parseTagValue: false,
  parseAttributeValue: false,
  ignoreDeclaration: true,
  htmlEntities: false,
  maxNestedTags: 16,
});

const BUILDER = new XMLBuilder({
  ignoreAttributes: false,
  attributeNamePrefix: '@',
  textNodeName: '$',
  // `enabled="true"` is a value to Eureka's readers, not a boolean attribute to shorten to `enabled`.
  suppressBooleanAttributes: false,
  format: false,
});

/** Whether the body is answered in JSON: when Accept asks for it (eureka-js-client and Spring do); else XML, as Eureka's server does. */
export function answerFormat(accept: string | undefined): EurekaFormat {
  if (accept === undefined) return 'xml';
  const json = /\b(?:application\/(?:[\w.+-]*\+)?json)\b/i.exec(accept);
  const xml = /\b(?:application|text)\/xml\b/i.exec(accept);
  if (!json) return 'xml';
  return xml && xml.index < json.index ? 'xml' : 'json';
}

export function mediaTypeOf(format: EurekaFormat): string {
  return format === 'json' ? 'application/json' : 'application/xml';
}

/** A request body as the object both formats read as; an empty body is undefined. */
export function decodeBody(text: string, format: EurekaFormat): unknown {
  if (text.trim() === '') return undefined;
  if (format === 'json') {
    try {
      return JSON.parse(text) as unknown;
    } catch (err) {
      throw new RegistryError('INVALID_ARGUMENT', `body is not valid JSON: ${(err as Error).message}`, { cause: err });
    }
  }
  // A document type may declare entities, which expand: Eureka's clients never send one.
  if (/<!DOCTYPE/i.test(text))
    throw new RegistryError('INVALID_ARGUMENT', 'body is XML with a DOCTYPE, which is refused');
  try {
    // Validating refuses what the lenient parser would patch up (an unclosed tag, text outside the root).
    SyntaxValidator.validate(text);
    return PARSER.parse(text) as unknown;
  } catch (err) {
    const reason = err instanceof Error ? err.message : JSON.stringify(err);
    throw new RegistryError('INVALID_ARGUMENT', `body is not valid XML: ${reason}`, { cause: err });
  }
}

/** Converters' names that differ from the JSON codec's. */
const XML_NAMES: Readonly<Record<string, string>> = { overriddenStatus: 'overriddenstatus' };
/** What XML can name an element: a metadata key that is not one is left out of the XML answer. */
const XML_NAME = /^[A-Za-z_][\w.-]*$/;

function forXml(instance: EurekaInstance): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(instance)) {
    if (key === 'metadata') {
      out[key] = Object.fromEntries(Object.entries(value as Record<string, string>).filter(([k]) => XML_NAME.test(k)));
    } else {
      out[XML_NAMES[key] ?? key] = value;
    }
  }
  return out;
}

function applicationForXml(app: EurekaApplication): Record<string, unknown> {
  return { name: app.name, instance: app.instance.map(forXml) };
}

/** The answer serialized in `format`. */
export function encodeAnswer(answer: EurekaAnswer, format: EurekaFormat): string {
  if (format === 'json') return JSON.stringify(answer);
  let root: Record<string, unknown>;
  if ('applications' in answer) {
    const { application, ...rest } = answer.applications;
    root = { applications: { ...rest, application: application.map(applicationForXml) } };
  } else if ('application' in answer) {
    root = { application: applicationForXml(answer.application) };
  } else {
    root = { instance: forXml(answer.instance) };
  }
  return BUILDER.build(root);
}
