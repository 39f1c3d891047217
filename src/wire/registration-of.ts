import type { Instance, InstanceCheck } from './answers.js';
import type { CheckDefinition, InstanceRegistration } from './registration.js';

/**
 * The registration that makes `instance` as it is answered: every field the registrant gave, in the registration's
 * own form (durations as text, checks as definitions). Registering it again changes nothing.
 */
export function registrationOf(instance: Instance): InstanceRegistration {
  const registration: InstanceRegistration = {
    host: instance.host,
    port: instance.port,
    endpoints: instance.endpoints,
    status: instance.status,
    tags: instance.tags,
    metadata: instance.metadata,
    weight: instance.weight,
    authorizedRoles: instance.authorizedRoles,
  };
  if (instance.url !== undefined) registration.url = instance.url;
  if (instance.zone !== undefined) registration.zone = instance.zone;
  if (instance.ttl !== undefined) registration.ttl = instance.ttl;
  if (instance.deregisterAfter !== undefined) registration.deregisterAfter = instance.deregisterAfter;
  if (instance.deregisterCriticalAfter !== undefined)
    registration.deregisterCriticalAfter = instance.deregisterCriticalAfter;
  if (instance.checks !== undefined) registration.checks = instance.checks.map(checkDefinitionOf);
  return registration;
}

/** A check as answered, as it is registered. */
export function checkDefinitionOf(check: InstanceCheck): CheckDefinition {
  const target = check.kind === 'http' ? { http: check.target } : { tcp: check.target };
  return {
    id: check.id,
    ...target,
    interval: check.interval,
    timeout: check.timeout,
    successBefore: check.successBefore,
    failuresBefore: check.failuresBefore,
  };
}
