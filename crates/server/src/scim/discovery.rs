//! The SCIM discovery documents (RFC 7644 §4, RFC 7643 §5-7): what this service provider
//! supports, its resource types and the schemas of the attributes it keeps.

use serde_json::{json, Value};

use super::resource::{Kind, GROUP_SCHEMA, USER_SCHEMA};

pub(crate) const SPC_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig";
pub(crate) const RESOURCE_TYPE_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:ResourceType";
pub(crate) const SCHEMA_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Schema";

/// Most resources one list response holds (`count` is capped to it).
pub(crate) const MAX_RESULTS: usize = 200;

pub(crate) fn service_provider_config(base: &str) -> Value {
    json!({
        "schemas": [SPC_SCHEMA],
        "documentationUri": "https://github.com/tillit/tillit/blob/main/crates/server/src/scim/mod.rs",
        "patch": {"supported": true},
        "bulk": {"supported": false, "maxOperations": 0, "maxPayloadSize": 0},
        "filter": {"supported": true, "maxResults": MAX_RESULTS},
        "changePassword": {"supported": false},
        "sort": {"supported": true},
        "etag": {"supported": true},
        "authenticationSchemes": [{
            "type": "oauthbearertoken",
            "name": "OAuth Bearer Token",
            "description": "A Tillit API token or an access token from /oauth/token whose user holds access.provision in the IT system tillit",
            "primary": true,
        }],
        "meta": {
            "resourceType": "ServiceProviderConfig",
            "location": format!("{base}/scim/v2/ServiceProviderConfig"),
        },
    })
}

fn resource_type(base: &str, kind: Kind) -> Value {
    json!({
        "schemas": [RESOURCE_TYPE_SCHEMA],
        "id": kind.name(),
        "name": kind.name(),
        "endpoint": format!("/{}", kind.endpoint()),
        "description": match kind {
            Kind::User => "A user of the access model, with its person",
            Kind::Group => "A group whose members are assigned the group's roles",
        },
        "schema": kind.schema(),
        "schemaExtensions": [],
        "meta": {
            "resourceType": "ResourceType",
            "location": format!("{base}/scim/v2/ResourceTypes/{}", kind.name()),
        },
    })
}

pub(crate) fn resource_types(base: &str) -> Vec<Value> {
    vec![
        resource_type(base, Kind::User),
        resource_type(base, Kind::Group),
    ]
}

fn attr(
    name: &str,
    kind: &str,
    required: bool,
    mutability: &str,
    uniqueness: &str,
    description: &str,
) -> Value {
    json!({
        "name": name,
        "type": kind,
        "multiValued": false,
        "description": description,
        "required": required,
        "caseExact": false,
        "mutability": mutability,
        "returned": "default",
        "uniqueness": uniqueness,
    })
}

fn schema(base: &str, id: &str, name: &str, description: &str, attributes: Vec<Value>) -> Value {
    json!({
        "schemas": [SCHEMA_SCHEMA],
        "id": id,
        "name": name,
        "description": description,
        "attributes": attributes,
        "meta": {
            "resourceType": "Schema",
            "location": format!("{base}/scim/v2/Schemas/{id}"),
        },
    })
}

/// Every schema this service publishes: User and Group with the attributes it keeps, and the
/// three discovery schemas (by name, with their simple attributes).
pub(crate) fn schemas(base: &str) -> Vec<Value> {
    let user = schema(
        base,
        USER_SCHEMA,
        "User",
        "User Account (the attributes Tillit keeps; others are accepted and ignored)",
        vec![
            attr(
                "userName",
                "string",
                true,
                "readWrite",
                "server",
                "Unique identifier for the User, ignoring case",
            ),
            attr(
                "displayName",
                "string",
                false,
                "readWrite",
                "none",
                "The name of the User (the person's name in the access model)",
            ),
            attr(
                "active",
                "boolean",
                false,
                "readWrite",
                "none",
                "false ends the user and all its role assignments from now; true reopens the user",
            ),
        ],
    );
    let mut members = attr(
        "members",
        "complex",
        false,
        "readWrite",
        "none",
        "The members of the Group: each is assigned the group's roles",
    );
    if let Some(m) = members.as_object_mut() {
        m.insert("multiValued".into(), json!(true));
        m.insert(
            "subAttributes".into(),
            json!([
                {
                    "name": "value", "type": "string", "multiValued": false,
                    "description": "The id of a User", "required": false, "caseExact": true,
                    "mutability": "immutable", "returned": "default", "uniqueness": "none",
                },
                {
                    "name": "$ref", "type": "reference", "referenceTypes": ["User"],
                    "multiValued": false, "description": "The URI of the User", "required": false,
                    "caseExact": true, "mutability": "immutable", "returned": "default",
                    "uniqueness": "none",
                },
            ]),
        );
    }
    let group = schema(
        base,
        GROUP_SCHEMA,
        "Group",
        "Group (its roles are set by an access administrator in the access document)",
        vec![
            attr(
                "displayName",
                "string",
                true,
                "readWrite",
                "none",
                "A human-readable name for the Group",
            ),
            members,
        ],
    );
    let ro = |name: &str, kind: &str| attr(name, kind, false, "readOnly", "none", name);
    vec![
        user,
        group,
        schema(
            base,
            SPC_SCHEMA,
            "ServiceProviderConfig",
            "Service Provider Configuration",
            vec![ro("documentationUri", "string")],
        ),
        schema(
            base,
            RESOURCE_TYPE_SCHEMA,
            "ResourceType",
            "Resource Type",
            vec![
                ro("id", "string"),
                ro("name", "string"),
                ro("description", "string"),
                ro("endpoint", "string"),
                ro("schema", "string"),
            ],
        ),
        schema(
            base,
            SCHEMA_SCHEMA,
            "Schema",
            "Specifies the schema attribute definitions",
            vec![
                ro("id", "string"),
                ro("name", "string"),
                ro("description", "string"),
            ],
        ),
    ]
}
