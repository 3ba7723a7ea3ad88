//! Contact events (WARP users ↔ HubSpot contacts, DESIGN §7), each in its own savepoint.
//!
//! - propertyChange: decided by the contact mapping's field rules, through the same
//!   [`DecisionBatch`] as company changes (a name, phone or job title applies; the login email
//!   is WARP's, so an edit in HubSpot is overridden and pushed back).
//! - creation: a contact created in HubSpot and associated with a linked company becomes an
//!   `invited` user of that customer with the least role: it cannot log in until WARP enables
//!   it; nothing grants access from HubSpot. A contact WARP created itself (it carries
//!   `warp_user_id`) is skipped.
//! - deletion: the user stays and is unlinked (a later WARP change creates the contact again);
//!   a privacy deletion also records that the person's data must not go back to HubSpot.
//! - restore: the user named by the contact's `warp_user_id` is linked again.
//! - merge: the lineage is kept; a merge of two contacts that were two WARP users keeps both
//!   users, leaves the survivor with its own user, unlinks the other and records a conflict
//!   for a person (no user is ever deleted or merged by HubSpot).
//! - associationChange: WARP's membership wins. A contact whose primary company is no longer
//!   its customer's is queued for a push-back, which associates the customer's company again.

use uuid::Uuid;
use warp_domain::sync::{EventKind, FieldMapping, ObjectType, WarpField, WebhookEvent};
use warp_domain::user::{NewUser, PersonText, UserEmail, UserRole, UserStatus};
use warp_store::conflicts::{self, NewConflict};
use warp_store::field_state::{self, Side};
use warp_store::inbound::{self, InboundLogEntry, InboundLogStatus};
use warp_store::outbox::{self, OutboxOperation};
use warp_store::{links, users, webhook_events};

use super::batch::{DecisionBatch, LinkedUser};
use super::reads::HubSpotReads;
use super::{EventStatus, HandleError, InboundProcessor, Outcome, Tx};

const CONTACTS: ObjectType = ObjectType::Contacts;

impl InboundProcessor {
    /// Handles one contact event (see the module doc).
    pub(super) async fn handle_contact(
        &self,
        tx: &Tx<'_>,
        reads: &HubSpotReads,
        event: &WebhookEvent,
    ) -> Result<Outcome, HandleError> {
        match event.kind() {
            EventKind::PropertyChange => self.contact_property_change(tx, event).await,
            EventKind::Creation => self.contact_creation(tx, reads, event).await,
            EventKind::Deletion => self.contact_deletion(tx, event).await,
            EventKind::Restore => self.contact_restore(tx, reads, event).await,
            EventKind::Merge { survivor } => self.contact_merge(tx, event, survivor).await,
            EventKind::AssociationChange => self.contact_association_change(tx, event).await,
            EventKind::Other => Ok(Outcome::skipped("event type not synced")),
        }
    }

    /// The contact mapping of the property a propertyChange names, or why it is skipped.
    fn contact_mapping(&self, event: &WebhookEvent) -> Result<FieldMapping, &'static str> {
        let Some(property) = event.property_name.as_deref() else {
            return Err("the event names no property");
        };
        self.map
            .current_for(CONTACTS)
            .by_hubspot_property(property)
            .cloned()
            .ok_or("unmapped property")
    }

    /// The user linked to a contact id (following merge lineage), locked.
    async fn linked_user(
        &self,
        tx: &Tx<'_>,
        contact_id: i64,
    ) -> Result<Option<LinkedUser>, HandleError> {
        let contact_id = contact_id.to_string();
        let user_id = links::local_of(tx, self.portal_id, CONTACTS, &contact_id).await?;
        self.lock_linked(tx, user_id, contact_id).await
    }

    /// The user linked to exactly this contact id (not to a contact it was merged into).
    async fn user_linked_to(
        &self,
        tx: &Tx<'_>,
        contact_id: i64,
    ) -> Result<Option<LinkedUser>, HandleError> {
        let contact_id = contact_id.to_string();
        let user_id =
            links::local_of_exact(tx, self.portal_id, CONTACTS, &contact_id, false).await?;
        self.lock_linked(tx, user_id, contact_id).await
    }

    async fn lock_linked(
        &self,
        tx: &Tx<'_>,
        user_id: Option<Uuid>,
        contact_id: String,
    ) -> Result<Option<LinkedUser>, HandleError> {
        let Some(user_id) = user_id else {
            return Ok(None);
        };
        let Some(user) = users::lock(tx, user_id).await? else {
            return Ok(None);
        };
        let linked = links::load(tx, self.portal_id, CONTACTS, &[user_id]).await?;
        let contact_id = linked
            .get(&user_id)
            .map_or(contact_id, |link| link.hubspot_id.clone());
        Ok(Some(LinkedUser { user, contact_id }))
    }

    async fn contact_property_change(
        &self,
        tx: &Tx<'_>,
        event: &WebhookEvent,
    ) -> Result<Outcome, HandleError> {
        let mapping = match self.contact_mapping(event) {
            Ok(mapping) => mapping,
            Err(why) => return Ok(Outcome::skipped(why)),
        };
        let Some(linked) = self.linked_user(tx, event.object_id).await? else {
            return Ok(Outcome::skipped("no user is linked to the contact"));
        };
        let user_id = linked.user.id;
        let mut batch = DecisionBatch::<LinkedUser>::new(self.portal_id);
        batch.admit(tx, vec![linked]).await?;
        let result = batch.decide_field(
            user_id,
            &mapping,
            event.property_value.as_deref(),
            event.occurred_at,
            "PROPERTY_CHANGE",
        );
        batch.flush(tx).await?;
        Ok(Outcome {
            status: Some(result.status),
            note: result.note,
            tally: result.tally,
        })
    }

    /// A contact created in HubSpot: an invited user of the customer its company is linked to.
    async fn contact_creation(
        &self,
        tx: &Tx<'_>,
        reads: &HubSpotReads,
        event: &WebhookEvent,
    ) -> Result<Outcome, HandleError> {
        let contact_id = event.object_id.to_string();
        if links::local_of(tx, self.portal_id, CONTACTS, &contact_id)
            .await?
            .is_some()
        {
            return Ok(Outcome::skipped("the contact is already linked"));
        }
        let Some(contact) = reads.contact(event.object_id)? else {
            return Ok(Outcome::skipped("the contact no longer exists"));
        };
        if contact.property("warp_user_id").is_some() {
            return Ok(Outcome::skipped("created by WARP"));
        }
        let Some(email) = contact
            .property("email")
            .and_then(|e| UserEmail::parse(e).ok())
        else {
            return Ok(Outcome::skipped("the contact has no usable email"));
        };
        let companies = reads.contact_companies(event.object_id)?;
        let Some(customer) = customer_of_companies(tx, &companies).await? else {
            return Ok(Outcome::skipped(
                "the contact's company is not linked to a customer",
            ));
        };
        let text = |name: &str| {
            contact
                .property(name)
                .and_then(|v| PersonText::parse(v).ok())
        };
        let new = NewUser {
            email,
            first_name: text("firstname"),
            last_name: text("lastname"),
            phone: contact
                .property("phone")
                .and_then(|p| warp_domain::customer::Phone::parse(p).ok()),
            job_title: text("jobtitle"),
            role: UserRole::Readonly,
            status: UserStatus::Invited,
            two_factor_enabled: false,
        };
        let Some(user) = users::create_invited(tx, self.portal_id, customer, &new).await? else {
            return Ok(Outcome::skipped(
                "the customer already has a user with this email",
            ));
        };
        links::link(
            tx,
            self.portal_id,
            CONTACTS,
            &[(user.id, contact_id.clone())],
        )
        .await?;
        // HubSpot holds these values already: the user's first push sends only what it adds.
        let seen = contact.mapped_values(&self.map.current_for(CONTACTS));
        field_state::record(
            tx,
            self.portal_id,
            CONTACTS,
            user.id,
            Side::HubSpot,
            &seen,
            event.occurred_at,
        )
        .await?;
        self.log_contact(tx, Some(user.id), "CREATION", &contact_id, None)
            .await?;
        tracing::info!(user_id = %user.id, contact_id, customer_id = %customer, "contact created in HubSpot: invited user created");
        let mut outcome = Outcome::new(EventStatus::Processed, Some("invited user created".into()));
        outcome.tally.linked = 1;
        Ok(outcome)
    }

    /// A contact deleted (or privacy-deleted) in HubSpot: its user stays and is unlinked.
    async fn contact_deletion(
        &self,
        tx: &Tx<'_>,
        event: &WebhookEvent,
    ) -> Result<Outcome, HandleError> {
        let contact_id = event.object_id.to_string();
        if self.merged_away(tx, event.object_id).await? {
            // HubSpot archives a merged-away contact: the merge event decides its user.
            return Ok(Outcome::skipped("merged into another contact"));
        }
        let privacy = event.subscription_type.ends_with("privacyDeletion");
        // A privacy deletion may come after the contact's plain deletion unlinked the user.
        let Some(user_id) =
            links::local_of_exact(tx, self.portal_id, CONTACTS, &contact_id, privacy).await?
        else {
            return Ok(Outcome::skipped("no user is linked to the contact"));
        };
        let was_linked = links::unlink(tx, self.portal_id, CONTACTS, user_id)
            .await?
            .is_some();
        if !was_linked && !privacy {
            return Ok(Outcome::skipped("no user is linked to the contact"));
        }
        if privacy {
            links::record_privacy_deletion(tx, self.portal_id, CONTACTS, user_id, &contact_id)
                .await?;
        }
        let operation = if privacy {
            "PRIVACY_DELETION"
        } else {
            "DELETION"
        };
        self.log_contact(tx, Some(user_id), operation, &contact_id, None)
            .await?;
        tracing::info!(%user_id, contact_id, privacy, "contact deleted in HubSpot: user unlinked");
        let mut outcome = Outcome::new(EventStatus::Processed, Some("unlinked".into()));
        outcome.tally.unlinked = 1;
        Ok(outcome)
    }

    /// Whether a stored merge event names this contact as merged into another.
    async fn merged_away(&self, tx: &Tx<'_>, contact_id: i64) -> Result<bool, HandleError> {
        Ok(webhook_events::merged_away(tx, self.portal_id, CONTACTS, contact_id).await?)
    }

    /// A contact restored in HubSpot: the user its `warp_user_id` names is linked again.
    async fn contact_restore(
        &self,
        tx: &Tx<'_>,
        reads: &HubSpotReads,
        event: &WebhookEvent,
    ) -> Result<Outcome, HandleError> {
        let contact_id = event.object_id.to_string();
        if self.linked_user(tx, event.object_id).await?.is_some() {
            return Ok(Outcome::new(
                EventStatus::Processed,
                Some("already linked".into()),
            ));
        }
        let Some(contact) = reads.contact(event.object_id)? else {
            return Ok(Outcome::skipped("the contact no longer exists"));
        };
        let Some(user_id) = contact
            .property("warp_user_id")
            .and_then(|id| id.parse::<Uuid>().ok())
        else {
            return Ok(Outcome::skipped("the contact names no WARP user"));
        };
        let Some(user) = users::lock(tx, user_id).await? else {
            return Ok(Outcome::skipped("the contact's WARP user does not exist"));
        };
        let clashes = links::link(
            tx,
            self.portal_id,
            CONTACTS,
            &[(user.id, contact_id.clone())],
        )
        .await?;
        if !clashes.is_empty() {
            return Ok(Outcome::skipped("the contact is linked to another user"));
        }
        outbox::enqueue(
            tx,
            self.portal_id,
            CONTACTS,
            user.id,
            OutboxOperation::Resync,
            user.version,
        )
        .await?;
        self.log_contact(tx, Some(user.id), "RESTORE", &contact_id, None)
            .await?;
        let mut outcome = Outcome::new(EventStatus::Processed, Some("relinked".into()));
        outcome.tally.linked = 1;
        Ok(outcome)
    }

    /// Contacts merged in HubSpot: no WARP user is lost (see the module doc).
    async fn contact_merge(
        &self,
        tx: &Tx<'_>,
        event: &WebhookEvent,
        survivor: i64,
    ) -> Result<Outcome, HandleError> {
        let survivor_id = survivor.to_string();
        let mut merged: Vec<i64> = event
            .merged_object_ids
            .iter()
            .copied()
            .chain(event.primary_object_id)
            .chain([event.object_id])
            .filter(|id| *id != survivor)
            .collect();
        merged.sort_unstable();
        merged.dedup();
        let mut holder = self.user_linked_to(tx, survivor).await?.map(|l| l.user.id);
        let mut conflicts_kept = 0;
        for merged_id in merged {
            let merged_text = merged_id.to_string();
            let user = self.user_linked_to(tx, merged_id).await?;
            links::record_merge(tx, self.portal_id, CONTACTS, &merged_text, &survivor_id).await?;
            let Some(user) = user else {
                continue;
            };
            match holder {
                None => {
                    // The survivor now stands for this user.
                    links::link(
                        tx,
                        self.portal_id,
                        CONTACTS,
                        &[(user.user.id, survivor_id.clone())],
                    )
                    .await?;
                    holder = Some(user.user.id);
                }
                Some(kept) if kept == user.user.id => {}
                Some(kept) => {
                    // Two WARP users in one HubSpot contact: both stay; a person decides.
                    links::unlink(tx, self.portal_id, CONTACTS, user.user.id).await?;
                    let kept_text = kept.to_string();
                    let merged_user = user.user.id.to_string();
                    conflicts::insert(
                        tx,
                        &NewConflict {
                            portal_id: self.portal_id,
                            object_type: CONTACTS,
                            local_id: user.user.id,
                            field: WarpField::UserId,
                            warp_value: Some(&merged_user),
                            hubspot_value: Some(&kept_text),
                            warp_changed_at: None,
                            hubspot_changed_at: event.occurred_at,
                        },
                    )
                    .await?;
                    conflicts_kept += 1;
                    self.log_contact(
                        tx,
                        Some(user.user.id),
                        "MERGE",
                        &survivor_id,
                        Some(format!(
                            "contact {merged_text} merged into {survivor_id}, the contact of user {kept}: both users kept, conflict recorded"
                        )),
                    )
                    .await?;
                }
            }
        }
        if let Some(user_id) = holder {
            self.log_contact(tx, Some(user_id), "MERGE", &survivor_id, None)
                .await?;
        }
        let mut outcome = Outcome::new(
            EventStatus::Processed,
            Some(if conflicts_kept > 0 {
                "merged; two users kept, conflict recorded".into()
            } else {
                "merged".into()
            }),
        );
        outcome.tally.conflicts = conflicts_kept;
        Ok(outcome)
    }

    /// A contact's company association changed in HubSpot: WARP's membership wins.
    async fn contact_association_change(
        &self,
        tx: &Tx<'_>,
        event: &WebhookEvent,
    ) -> Result<Outcome, HandleError> {
        let (Some(from), Some(to)) = (event.from_object_id, event.to_object_id) else {
            return Ok(Outcome::skipped("the event names no association"));
        };
        if !event
            .association_type
            .as_deref()
            .is_some_and(|t| t.starts_with("CONTACT_TO_COMPANY"))
        {
            return Ok(Outcome::skipped("not a contact-to-company association"));
        }
        let Some(linked) = self.linked_user(tx, from).await? else {
            return Ok(Outcome::skipped("no user is linked to the contact"));
        };
        let company = inbound::lock_by_id(tx, linked.user.customer_id)
            .await?
            .and_then(|customer| customer.external_ids.hubspot_company_id);
        let to = to.to_string();
        let removed = event.association_removed.unwrap_or(false);
        let ours = company.as_deref() == Some(to.as_str());
        let primary = event.is_primary_association.unwrap_or(false)
            || event.association_type.as_deref() == Some("CONTACT_TO_COMPANY");
        let against_warp = (removed && ours) || (!removed && !ours && primary);
        if !against_warp {
            return Ok(Outcome::new(
                EventStatus::Processed,
                Some("consistent with WARP's membership".into()),
            ));
        }
        links::forget_parent(tx, self.portal_id, CONTACTS, linked.user.id).await?;
        let queue_id = outbox::enqueue(
            tx,
            self.portal_id,
            CONTACTS,
            linked.user.id,
            OutboxOperation::PushBack,
            linked.user.version,
        )
        .await?;
        let mut entry = contact_log_entry(
            self.portal_id,
            Some(linked.user.id),
            "ASSOCIATION_CHANGE",
            InboundLogStatus::Overridden,
            &linked.contact_id,
            None,
        );
        entry.queue_id = Some(queue_id);
        inbound::log_inbound(tx, &entry).await?;
        let mut outcome = Outcome::new(
            EventStatus::Processed,
            Some("WARP's company pushed back".into()),
        );
        outcome.tally.overridden = 1;
        Ok(outcome)
    }

    async fn log_contact(
        &self,
        tx: &Tx<'_>,
        user_id: Option<Uuid>,
        operation: &'static str,
        contact_id: &str,
        error: Option<String>,
    ) -> Result<(), HandleError> {
        let entry = contact_log_entry(
            self.portal_id,
            user_id,
            operation,
            InboundLogStatus::Success,
            contact_id,
            error,
        );
        Ok(inbound::log_inbound(tx, &entry).await?)
    }
}

fn contact_log_entry(
    portal_id: i64,
    user_id: Option<Uuid>,
    operation: &'static str,
    status: InboundLogStatus,
    contact_id: &str,
    error: Option<String>,
) -> InboundLogEntry<'static> {
    InboundLogEntry {
        portal_id,
        object_type: CONTACTS,
        local_id: user_id,
        queue_id: None,
        operation,
        status,
        fields: Vec::new(),
        hubspot_id: Some(contact_id.to_owned()),
        error,
    }
}

/// The first of `companies` (a contact's, its primary company first) linked to a customer,
/// locked.
async fn customer_of_companies(
    tx: &Tx<'_>,
    companies: &[String],
) -> Result<Option<Uuid>, HandleError> {
    for company in companies {
        if let Some(customer) = inbound::lock_by_hubspot_company(tx, company).await? {
            return Ok(Some(customer.id));
        }
    }
    Ok(None)
}
