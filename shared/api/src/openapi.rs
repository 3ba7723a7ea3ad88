//! The OpenAPI 3 document, generated from the handlers' annotations and the DTO schemas.

use crate::dto::{
    AddressInput, AddressResponse, ContactInput, ContactResponse, CustomerInput, CustomerList,
    CustomerPatchInput, CustomerResponse, CustomerTypeSchema, ExternalIdsInput,
    ExternalIdsResponse, Health, MoneyInput, ServiceFlagsInput, ServiceFlagsResponse,
    ServicesInput, ServicesResponse, StatusSchema,
};
use crate::problem::{Problem, ProblemField};
use utoipa::Modify;
use utoipa::OpenApi;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};

#[derive(OpenApi)]
#[openapi(
    info(title = "WARP customer API", description = "Customers (billing accounts) of WARP, synchronised with HubSpot."),
    paths(
        crate::customers::create_customer,
        crate::customers::list_customers,
        crate::customers::get_customer,
        crate::customers::get_customer_by_ban,
        crate::customers::patch_customer,
        crate::customers::replace_customer,
        crate::customers::delete_customer,
        crate::health,
        crate::openapi_json,
    ),
    components(schemas(
        CustomerResponse, ContactResponse, AddressResponse, ServicesResponse, ServiceFlagsResponse, ExternalIdsResponse,
        CustomerTypeSchema, StatusSchema, CustomerList, Health, MoneyInput, ContactInput, AddressInput, ServiceFlagsInput,
        ServicesInput, ExternalIdsInput, CustomerInput, CustomerPatchInput, Problem, ProblemField,
    )),
    modifiers(&BearerJwt),
    tags((name = "customers", description = "Customer accounts"), (name = "operations", description = "Health and documents"))
)]
pub struct ApiDoc;

/// The whole document: the customer routes plus the sync operation routes, each module
/// contributing its own paths and schemas.
pub fn document() -> utoipa::openapi::OpenApi {
    let mut document = ApiDoc::openapi();
    document.merge(crate::sync_operations::Doc::openapi());
    document.merge(crate::conflicts::Doc::openapi());
    document.merge(crate::reconciliations::Doc::openapi());
    document.merge(crate::sync_status::Doc::openapi());
    document.merge(crate::hubspot_links::Doc::openapi());
    document.merge(crate::contact_links::Doc::openapi());
    document.merge(crate::sync_mappings::Doc::openapi());
    document.merge(crate::users::Doc::openapi());
    document.merge(crate::deals::Doc::openapi());
    document.merge(crate::onboardings::Doc::openapi());
    document.merge(crate::imports::Doc::openapi());
    document.merge(crate::audit::Doc::openapi());
    document.merge(crate::webhook_events::Doc::openapi());
    document.merge(crate::failed_records::Doc::openapi());
    document.merge(crate::activity::Doc::openapi());
    document.merge(crate::company_adoption::Doc::openapi());
    document.merge(crate::installations::Doc::openapi());
    document
}

struct BearerJwt;

impl Modify for BearerJwt {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer_jwt",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
    }
}
