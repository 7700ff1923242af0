// A front end's use of the platform's GraphQL API, type-checked only (never run,
// no network). The types come from `npm run codegen`: graphql-schema/schema.graphql
// plus the operations in graphql-schema/operations/admin/. If the SDL or an
// operation drifts so that a field, argument, enum value or nullability used
// here changes, `tsc` fails.

import type { TypedDocumentNode } from '@graphql-typed-document-node/core';
import { graphql, type DocumentType } from './gql';
import {
  ConfigChangesDocument,
  CreateRouteDocument,
  ListRoutesDocument,
  type ConfigChangesSubscription,
  type ConfigChangesSubscriptionVariables,
  type CreateRouteMutation,
  type CreateRouteMutationVariables,
  type ListRoutesQuery,
  type ListRoutesQueryVariables,
  type Protocol,
  type UserErrorCode,
} from './gql/graphql';

// What a GraphQL client (urql, Apollo, graphql-request, ...) looks like to the
// type checker: the document fixes both the variables and the result.
declare function execute<TResult, TVariables>(
  document: TypedDocumentNode<TResult, TVariables>,
  variables: TVariables,
): Promise<TResult>;
declare function subscribe<TResult, TVariables>(
  document: TypedDocumentNode<TResult, TVariables>,
  variables: TVariables,
  onNext: (data: TResult) => void,
): () => void;

// Compile-time equality of two types.
type Equals<A, B> =
  (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;
function assertType<T extends true>(): T | undefined {
  return undefined;
}

// The typed documents carry the operation types.
assertType<Equals<DocumentType<typeof ListRoutesDocument>, ListRoutesQuery>>();
assertType<Equals<DocumentType<typeof CreateRouteDocument>, CreateRouteMutation>>();
assertType<Equals<DocumentType<typeof ConfigChangesDocument>, ConfigChangesSubscription>>();
// Scalars are mapped, not `any`: DateTime is an RFC 3339 string, JSON is unknown.
type RouteNode = NonNullable<ListRoutesQuery['controlPlane']>['routes']['edges'][number]['node'];
type EntityChange = ConfigChangesSubscription['configChanges']['changes'][number];
assertType<Equals<RouteNode['createdAt'], string>>();
assertType<Equals<RouteNode['protocols'], Protocol[]>>();
assertType<Equals<EntityChange['data'], unknown>>();
// Enums are string literal unions (enumsAsTypes).
assertType<Equals<UserErrorCode, 'VALIDATION' | 'CONFLICT' | 'NOT_FOUND'>>();
// `graphql()` with a string it was not generated for gives `unknown`, not `any`.
declare const someSource: string;
const notGenerated = graphql(someSource);
assertType<Equals<typeof notGenerated, unknown>>();

// ---- ListRoutes ----------------------------------------------------------

export function routeSummaries(data: ListRoutesQuery): string[] {
  const routes = data.controlPlane?.routes;
  if (!routes) return [];
  return routes.edges.map(
    ({ node }) => `${node.name ?? node.id}: ${node.service?.host}:${node.service?.port}`,
  );
}

export function nextPageVariables(
  controlPlaneId: string,
  data: ListRoutesQuery,
): ListRoutesQueryVariables | null {
  const pageInfo = data.controlPlane?.routes.pageInfo;
  if (!pageInfo?.hasNextPage) return null;
  return { controlPlaneId, first: 50, after: pageInfo.endCursor };
}

export function totalRoutes(data: ListRoutesQuery): number {
  // @ts-expect-error -- misspelt field: only an error when the result is typed (not `any`)
  void data.controlPlane?.routes.totalCountt;
  return data.controlPlane?.routes.totalCount ?? 0;
}

export async function listAllRoutes(controlPlaneId: string): Promise<string[]> {
  const out: string[] = [];
  let variables: ListRoutesQueryVariables | null = { controlPlaneId, first: 50 };
  while (variables) {
    const data: ListRoutesQuery = await execute(ListRoutesDocument, variables);
    out.push(...routeSummaries(data));
    variables = nextPageVariables(controlPlaneId, data);
  }
  return out;
}

// ---- CreateRoute ---------------------------------------------------------

export function createRouteVariables(
  controlPlaneId: string,
  name: string,
  serviceId: string,
): CreateRouteMutationVariables {
  return {
    input: {
      controlPlaneId,
      name,
      paths: ['/x'],
      protocols: ['HTTP', 'HTTPS'],
      service: serviceId,
    },
  };
}

export const badProtocol: CreateRouteMutationVariables = {
  input: {
    controlPlaneId: 'cp',
    // @ts-expect-error -- not a Protocol: enums are string literal types
    protocols: ['HTTP', 'FTP'],
  },
};

// @ts-expect-error -- controlPlaneId is required (`ID!` in CreateRouteInput)
export const missingControlPlane: CreateRouteMutationVariables = { input: { name: 'r' } };

export function describeCreateRoute(result: CreateRouteMutation): string {
  const { route, configVersion, userErrors } = result.createRoute;
  if (userErrors.length > 0) {
    return userErrors
      .map((e) => {
        const code: UserErrorCode = e.code;
        return `${e.field ?? 'input'}: ${e.message} (${code})`;
      })
      .join('\n');
  }
  if (!route) return 'no route and no user errors';
  return `route ${route.id} (${route.paths.join(', ')}) -> ${route.service?.name ?? route.service?.id ?? 'no service'} at version ${configVersion ?? '?'}`;
}

export async function createRoute(
  controlPlaneId: string,
  name: string,
  serviceId: string,
): Promise<string> {
  const result = await execute(CreateRouteDocument, createRouteVariables(controlPlaneId, name, serviceId));
  return describeCreateRoute(result);
}

// ---- ConfigChanges -------------------------------------------------------

export function describeChange(change: EntityChange): string {
  const head = `${change.op} ${change.kind} ${change.id}`;
  const entity = change.entity;
  if (!entity) return `${head} (gone)`;
  switch (entity.__typename) {
    case 'Route':
      return `${head}: route ${entity.name ?? entity.id} on ${entity.paths.join(', ')}`;
    case 'Service':
      return `${head}: service ${entity.name ?? entity.id} at ${entity.host}`;
    case 'Acl':
    case 'BasicAuthCredential':
    case 'GatewayApplication':
    case 'GatewayApplicationCredential':
    case 'CaCertificate':
    case 'Certificate':
    case 'Consumer':
    case 'ConsumerGroup':
    case 'JwtSecret':
    case 'KeyAuthCredential':
    case 'Plugin':
    case 'Sni':
    case 'Target':
    case 'Upstream':
      // @ts-expect-error -- only the Route and Service fragments select `host`/`paths`
      void entity.host;
      return `${head}: ${entity.__typename} ${entity.id}`;
    default: {
      // every GatewayEntity implementation is handled above
      const unreachable: never = entity;
      return unreachable;
    }
  }
}

export function watchConfig(controlPlaneId: string, sinceVersion?: number): () => void {
  const variables: ConfigChangesSubscriptionVariables = { controlPlaneId, sinceVersion };
  return subscribe(ConfigChangesDocument, variables, (data: ConfigChangesSubscription) => {
    const { version, hash, at, changes } = data.configChanges;
    const when: Date = new Date(at);
    console.log(`version ${version} (${hash}) at ${when.toISOString()}`);
    for (const change of changes) console.log(describeChange(change));
  });
}

// ---- Registrations: the admins' queue -------------------------------------

import {
  DecideRegistrationDocument,
  PortalRegistrationsDocument,
  type PortalRegistrationsQuery,
  type RegistrationStatus,
  type CredentialStatus,
} from './gql/graphql';

type RegistrationNode = PortalRegistrationsQuery['portalRegistrations']['nodes'][number];
assertType<Equals<RegistrationNode['status'], RegistrationStatus>>();
assertType<Equals<RegistrationStatus, 'PENDING' | 'APPROVED' | 'REJECTED' | 'REVOKED'>>();
assertType<Equals<CredentialStatus, 'ACTIVE' | 'EXPIRED' | 'REVOKED'>>();
// a key's record never carries the key
// @ts-expect-error the key is shown once, at creation, and is not a field here
type NoKey = RegistrationNode['application']['credentials'][number]['key'];

export async function approvePending(portalId: string): Promise<number> {
  const page = await execute(PortalRegistrationsDocument, {
    portalId,
    status: 'PENDING',
    first: 50,
  });
  let approved = 0;
  for (const r of page.portalRegistrations.nodes) {
    const limit: number | null | undefined = r.plan?.rateLimits.minute;
    void limit;
    const d = await execute(DecideRegistrationDocument, {
      input: { registrationId: r.id, status: 'APPROVED', reason: null },
    });
    if (d.decideRegistration.status === 'APPROVED') approved += 1;
  }
  // @ts-expect-error not a registration status
  await execute(DecideRegistrationDocument, { input: { registrationId: 'x', status: 'OK' } });
  return approved;
}
