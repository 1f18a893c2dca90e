//! Agent profiles (versioned), webhook tools, IVR menus and phone numbers: their rows, kept as the
//! JSON the API takes (validated before they get here, see [`crate::agents`]), and the reads the
//! voice webhook and the media socket make per call.
//!
//! References are checked here, in the transaction that writes: a number or menu may only point
//! at the organization's own profiles and menus; a profile, menu or tool something points at
//! cannot be deleted (`InUse`, a 409).

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use deadpool_postgres::GenericClient;
use serde::Serialize;
use tokio_postgres::Row;
use tokio_postgres::error::SqlState;
use utoipa::ToSchema;
use uuid::Uuid;

use super::{Store, StoreError};
use crate::agents::routing::NumberConfig;
use crate::agents::{Action, Invalid, Menu, ProfileConfig, menu};
use crate::tools::WebhookTool;

/// Why a definition was not written.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{0}")]
    Invalid(#[from] Invalid),
    #[error("{0} not found")]
    NotFound(String),
    /// A name or number another row of the organization (or, for numbers, anyone) has.
    #[error("{0}")]
    Conflict(String),
    /// Something points at it.
    #[error("{0}")]
    InUse(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<tokio_postgres::Error> for ConfigError {
    fn from(e: tokio_postgres::Error) -> Self {
        ConfigError::Store(e.into())
    }
}

impl From<deadpool_postgres::PoolError> for ConfigError {
    fn from(e: deadpool_postgres::PoolError) -> Self {
        ConfigError::Store(e.into())
    }
}

fn conflict_on_unique(what: String) -> impl FnOnce(tokio_postgres::Error) -> ConfigError {
    move |e| {
        if e.code() == Some(&SqlState::UNIQUE_VIOLATION) {
            ConfigError::Conflict(what)
        } else {
            e.into()
        }
    }
}

fn decode<T: serde::de::DeserializeOwned>(value: serde_json::Value) -> Result<T, StoreError> {
    serde_json::from_value(value).map_err(|e| StoreError::Decode(e.to_string()))
}

fn json<T: Serialize>(value: &T) -> serde_json::Value {
    serde_json::to_value(value).expect("definitions serialize")
}

/// A profile at its current version.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct ProfileRow {
    pub id: Uuid,
    pub version: i32,
    pub config: ProfileConfig,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// One version of a profile.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct ProfileVersion {
    pub version: i32,
    pub config: ProfileConfig,
    pub created_by: Option<Uuid>,
    pub created_at: DateTime<Utc>,
}

/// A webhook tool.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct ToolRow {
    pub id: Uuid,
    #[schema(value_type = Object)]
    pub definition: WebhookTool,
    pub updated_at: DateTime<Utc>,
}

/// A menu.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct MenuRow {
    pub id: Uuid,
    pub menu: Menu,
    pub updated_at: DateTime<Utc>,
}

/// A phone number.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct NumberRow {
    pub id: Uuid,
    #[serde(flatten)]
    pub config: NumberConfig,
    pub updated_at: DateTime<Utc>,
}

/// How the engine's part of a call ended, when the call goes on without it (Twilio asks what
/// to run after the stream).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallExit {
    /// The agent transferred the caller to this number.
    Transfer { number: String },
    /// The AI could not be reached or was lost for good.
    AiUnavailable,
}

/// The profile version a call runs with.
#[derive(Debug, Clone, PartialEq)]
pub struct CallProfile {
    pub id: Uuid,
    pub version: i32,
    pub config: ProfileConfig,
}

fn profile_row(r: &Row) -> Result<ProfileRow, StoreError> {
    Ok(ProfileRow {
        id: r.try_get(0)?,
        version: r.try_get(1)?,
        config: decode(r.try_get(2)?)?,
        created_at: r.try_get(3)?,
        updated_at: r.try_get(4)?,
    })
}

const PROFILE: &str = "SELECT p.id, p.current_version, v.config, p.created_at, p.updated_at
     FROM agent_profiles p JOIN agent_profile_versions v
       ON v.profile_id = p.id AND v.version = p.current_version
     WHERE p.org_id = $1 AND p.deleted_at IS NULL";

fn number_row(r: &Row) -> Result<NumberRow, StoreError> {
    let opt = |i: usize| -> Result<Option<serde_json::Value>, StoreError> { Ok(r.try_get(i)?) };
    Ok(NumberRow {
        id: r.try_get(0)?,
        config: NumberConfig {
            number: r.try_get(1)?,
            label: r.try_get(2)?,
            profile_id: r.try_get(3)?,
            menu_id: r.try_get(4)?,
            hours: opt(5)?.map(decode).transpose()?,
            after_hours: opt(6)?.map(decode).transpose()?,
            fallback: opt(7)?.map(decode).transpose()?,
        },
        updated_at: r.try_get(8)?,
    })
}

const NUMBER: &str =
    "SELECT id, number, label, profile_id, menu_id, hours, after_hours, fallback, updated_at
     FROM phone_numbers";

/// Checks that every action points at the organization's own live profiles and menus.
async fn check_targets(
    client: &impl GenericClient,
    org_id: Uuid,
    actions: impl Iterator<Item = (String, Action)>,
) -> Result<(), ConfigError> {
    for (field, action) in actions {
        let (sql, id, what) = match action {
            Action::Agent { profile_id } => (
                "SELECT 1 FROM agent_profiles WHERE id = $1 AND org_id = $2 AND deleted_at IS NULL",
                profile_id,
                "profile",
            ),
            Action::Menu { menu_id } => (
                "SELECT 1 FROM ivr_menus WHERE id = $1 AND org_id = $2",
                menu_id,
                "menu",
            ),
            _ => continue,
        };
        if client.query_opt(sql, &[&id, &org_id]).await?.is_none() {
            return Err(Invalid::new(field, format!("no {what} {id} in this organization")).into());
        }
    }
    Ok(())
}

/// What points at a profile or menu (numbers, menus), for the `InUse` answer.
async fn users_of(
    client: &impl GenericClient,
    org_id: Uuid,
    key: &str,
    id: Uuid,
) -> Result<Vec<String>, ConfigError> {
    // An action naming `id` anywhere in a menu's definition or a number's after-hours action.
    let path = format!("lax $.** ? (@.{key} == $id)");
    let vars = serde_json::json!({ "id": id.to_string() });
    let rows = client
        .query(
            &format!(
                "SELECT 'number ' || number FROM phone_numbers
                 WHERE org_id = $1 AND ({key} = $2
                       OR jsonb_path_exists(coalesce(after_hours, '{{}}'), $3::text::jsonpath, $4))
                 UNION ALL
                 SELECT 'menu ' || name FROM ivr_menus
                 WHERE org_id = $1 AND jsonb_path_exists(definition, $3::text::jsonpath, $4)"
            ),
            &[&org_id, &id, &path, &vars],
        )
        .await?;
    Ok(rows.iter().map(|r| r.get(0)).collect())
}

impl Store {
    // ---- profiles ----------------------------------------------------------------------------

    /// The organization's webhook tool names (what a profile may list besides the built-ins).
    pub async fn webhook_tool_names(&self, org_id: Uuid) -> Result<Vec<String>, StoreError> {
        let client = self.pool.get().await?;
        let rows = client
            .query(
                "SELECT name FROM webhook_tools WHERE org_id = $1 ORDER BY name",
                &[&org_id],
            )
            .await?;
        Ok(rows.iter().map(|r| r.get(0)).collect())
    }

    /// A new profile at version 1.
    pub async fn create_profile(
        &self,
        org_id: Uuid,
        config: &ProfileConfig,
        by: Option<Uuid>,
    ) -> Result<ProfileRow, ConfigError> {
        let mut client = self.pool.get().await?;
        let tx = client.transaction().await?;
        let id = Uuid::now_v7();
        tx.execute(
            "INSERT INTO agent_profiles (id, org_id, name, current_version) VALUES ($1, $2, $3, 1)",
            &[&id, &org_id, &config.name],
        )
        .await
        .map_err(conflict_on_unique(format!(
            "a profile named '{}' exists already",
            config.name
        )))?;
        tx.execute(
            "INSERT INTO agent_profile_versions (profile_id, org_id, version, config, created_by)
             VALUES ($1, $2, 1, $3, $4)",
            &[&id, &org_id, &json(config), &by],
        )
        .await?;
        let row = tx
            .query_one(&format!("{PROFILE} AND p.id = $2"), &[&org_id, &id])
            .await?;
        tx.commit().await?;
        Ok(profile_row(&row)?)
    }

    /// An edit: a new version, which new calls use (live calls keep theirs).
    pub async fn update_profile(
        &self,
        org_id: Uuid,
        id: Uuid,
        config: &ProfileConfig,
        by: Option<Uuid>,
    ) -> Result<ProfileRow, ConfigError> {
        let mut client = self.pool.get().await?;
        let tx = client.transaction().await?;
        let version: i32 = tx
            .query_opt(
                "UPDATE agent_profiles SET current_version = current_version + 1, name = $3,
                        updated_at = now()
                 WHERE id = $1 AND org_id = $2 AND deleted_at IS NULL
                 RETURNING current_version",
                &[&id, &org_id, &config.name],
            )
            .await
            .map_err(conflict_on_unique(format!(
                "a profile named '{}' exists already",
                config.name
            )))?
            .ok_or_else(|| ConfigError::NotFound(format!("profile {id}")))?
            .get(0);
        tx.execute(
            "INSERT INTO agent_profile_versions (profile_id, org_id, version, config, created_by)
             VALUES ($1, $2, $3, $4, $5)",
            &[&id, &org_id, &version, &json(config), &by],
        )
        .await?;
        let row = tx
            .query_one(&format!("{PROFILE} AND p.id = $2"), &[&org_id, &id])
            .await?;
        tx.commit().await?;
        Ok(profile_row(&row)?)
    }

    pub async fn profiles(&self, org_id: Uuid) -> Result<Vec<ProfileRow>, StoreError> {
        let client = self.pool.get().await?;
        let rows = client
            .query(&format!("{PROFILE} ORDER BY lower(p.name)"), &[&org_id])
            .await?;
        rows.iter().map(profile_row).collect()
    }

    pub async fn profile(&self, org_id: Uuid, id: Uuid) -> Result<Option<ProfileRow>, StoreError> {
        let client = self.pool.get().await?;
        let row = client
            .query_opt(&format!("{PROFILE} AND p.id = $2"), &[&org_id, &id])
            .await?;
        row.as_ref().map(profile_row).transpose()
    }

    /// Every version of a profile, newest first (also of a deleted one: past calls name them).
    pub async fn profile_versions(
        &self,
        org_id: Uuid,
        id: Uuid,
    ) -> Result<Vec<ProfileVersion>, StoreError> {
        let client = self.pool.get().await?;
        let rows = client
            .query(
                "SELECT version, config, created_by, created_at FROM agent_profile_versions
                 WHERE org_id = $1 AND profile_id = $2 ORDER BY version DESC",
                &[&org_id, &id],
            )
            .await?;
        rows.iter()
            .map(|r| {
                Ok(ProfileVersion {
                    version: r.try_get(0)?,
                    config: decode(r.try_get(1)?)?,
                    created_by: r.try_get(2)?,
                    created_at: r.try_get(3)?,
                })
            })
            .collect()
    }

    /// Deletes a profile no number or menu points at (its versions stay for past calls).
    pub async fn delete_profile(&self, org_id: Uuid, id: Uuid) -> Result<(), ConfigError> {
        let mut client = self.pool.get().await?;
        let tx = client.transaction().await?;
        let found = tx
            .query_opt(
                "SELECT 1 FROM agent_profiles WHERE id = $1 AND org_id = $2 AND deleted_at IS NULL
                 FOR UPDATE",
                &[&id, &org_id],
            )
            .await?;
        if found.is_none() {
            return Err(ConfigError::NotFound(format!("profile {id}")));
        }
        let users = users_of(&tx, org_id, "profile_id", id).await?;
        if !users.is_empty() {
            return Err(ConfigError::InUse(format!(
                "the profile is in use by {}: point them elsewhere first",
                users.join(", ")
            )));
        }
        tx.execute(
            "UPDATE agent_profiles SET deleted_at = now(), updated_at = now() WHERE id = $1",
            &[&id],
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    // ---- webhook tools -----------------------------------------------------------------------

    /// Creates or replaces the tool of this name.
    pub async fn put_tool(&self, org_id: Uuid, tool: &WebhookTool) -> Result<ToolRow, ConfigError> {
        let client = self.pool.get().await?;
        let row = client
            .query_one(
                "INSERT INTO webhook_tools (id, org_id, name, definition) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (org_id, name) DO UPDATE
                   SET definition = EXCLUDED.definition, updated_at = now()
                 RETURNING id, definition, updated_at",
                &[&Uuid::now_v7(), &org_id, &tool.name, &json(tool)],
            )
            .await?;
        Ok(ToolRow {
            id: row.try_get(0)?,
            definition: decode(row.try_get(1)?)?,
            updated_at: row.try_get(2)?,
        })
    }

    pub async fn tools(&self, org_id: Uuid) -> Result<Vec<ToolRow>, StoreError> {
        let client = self.pool.get().await?;
        let rows = client
            .query(
                "SELECT id, definition, updated_at FROM webhook_tools WHERE org_id = $1 ORDER BY name",
                &[&org_id],
            )
            .await?;
        rows.iter()
            .map(|r| {
                Ok(ToolRow {
                    id: r.try_get(0)?,
                    definition: decode(r.try_get(1)?)?,
                    updated_at: r.try_get(2)?,
                })
            })
            .collect()
    }

    /// Deletes a tool no current profile lists.
    pub async fn delete_tool(&self, org_id: Uuid, name: &str) -> Result<(), ConfigError> {
        let mut client = self.pool.get().await?;
        let tx = client.transaction().await?;
        let users: Vec<String> = tx
            .query(
                "SELECT p.name FROM agent_profiles p JOIN agent_profile_versions v
                   ON v.profile_id = p.id AND v.version = p.current_version
                 WHERE p.org_id = $1 AND p.deleted_at IS NULL AND v.config->'tools' ? $2",
                &[&org_id, &name],
            )
            .await?
            .iter()
            .map(|r| r.get(0))
            .collect();
        if !users.is_empty() {
            return Err(ConfigError::InUse(format!(
                "profiles {} use the tool: remove it from them first",
                users.join(", ")
            )));
        }
        let deleted = tx
            .execute(
                "DELETE FROM webhook_tools WHERE org_id = $1 AND name = $2",
                &[&org_id, &name],
            )
            .await?;
        if deleted == 0 {
            return Err(ConfigError::NotFound(format!("tool {name}")));
        }
        tx.commit().await?;
        Ok(())
    }

    /// The webhook tools a call's profile lists, by name.
    pub async fn webhook_tools_named(
        &self,
        org_id: Uuid,
        names: &[String],
    ) -> Result<Vec<WebhookTool>, StoreError> {
        let client = self.pool.get().await?;
        let rows = client
            .query(
                "SELECT definition FROM webhook_tools WHERE org_id = $1 AND name = ANY($2)",
                &[&org_id, &names],
            )
            .await?;
        rows.iter().map(|r| decode(r.try_get(0)?)).collect()
    }

    /// Sets the organization's sealed tool secret.
    pub async fn set_tool_secret(&self, org_id: Uuid, sealed: &[u8]) -> Result<(), StoreError> {
        let client = self.pool.get().await?;
        client
            .execute(
                "INSERT INTO org_credentials (org_id, tool_secret) VALUES ($1, $2)
                 ON CONFLICT (org_id) DO UPDATE SET tool_secret = EXCLUDED.tool_secret,
                                                    updated_at = now()",
                &[&org_id, &sealed],
            )
            .await?;
        Ok(())
    }

    /// The organization's sealed tool secret, if it has one.
    pub async fn tool_secret(&self, org_id: Uuid) -> Result<Option<Vec<u8>>, StoreError> {
        let client = self.pool.get().await?;
        Ok(client
            .query_opt(
                "SELECT tool_secret FROM org_credentials WHERE org_id = $1",
                &[&org_id],
            )
            .await?
            .and_then(|r| r.get(0)))
    }

    // ---- menus -------------------------------------------------------------------------------

    /// Creates (`id` None) or replaces a menu, after checking its targets and that the
    /// organization's menus, with this one, all have a way out.
    pub async fn put_menu(
        &self,
        org_id: Uuid,
        id: Option<Uuid>,
        menu: &Menu,
    ) -> Result<MenuRow, ConfigError> {
        let mut client = self.pool.get().await?;
        let tx = client.transaction().await?;
        // One writer of an organization's menus at a time: the exit check sees them all.
        tx.execute(
            "SELECT pg_advisory_xact_lock(hashtext('ivr_menus'), hashtext($1::uuid::text))",
            &[&org_id],
        )
        .await?;
        let id = match id {
            Some(id) => {
                tx.query_opt(
                    "SELECT 1 FROM ivr_menus WHERE id = $1 AND org_id = $2",
                    &[&id, &org_id],
                )
                .await?
                .ok_or_else(|| ConfigError::NotFound(format!("menu {id}")))?;
                id
            }
            None => Uuid::now_v7(),
        };
        let others: Vec<(Uuid, Menu)> = tx
            .query(
                "SELECT id, definition FROM ivr_menus WHERE org_id = $1 AND id <> $2",
                &[&org_id, &id],
            )
            .await?
            .iter()
            .map(|r| Ok((r.try_get(0)?, decode(r.try_get(1)?)?)))
            .collect::<Result<_, StoreError>>()?;
        let targets = menu.actions().filter(|(_, a)| match a {
            // A menu may lead to itself (back to the top): known once written.
            Action::Menu { menu_id } => *menu_id != id,
            _ => true,
        });
        check_targets(&tx, org_id, targets.map(|(f, a)| (f, a.clone()))).await?;
        let mut all: HashMap<Uuid, &Menu> = others.iter().map(|(id, m)| (*id, m)).collect();
        all.insert(id, menu);
        menu::check_exits(&all)?;
        let row = tx
            .query_one(
                "INSERT INTO ivr_menus (id, org_id, name, definition) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name,
                        definition = EXCLUDED.definition, updated_at = now()
                 RETURNING updated_at",
                &[&id, &org_id, &menu.name, &json(menu)],
            )
            .await
            .map_err(conflict_on_unique(format!(
                "a menu named '{}' exists already",
                menu.name
            )))?;
        tx.commit().await?;
        Ok(MenuRow {
            id,
            menu: menu.clone(),
            updated_at: row.try_get(0)?,
        })
    }

    pub async fn menus(&self, org_id: Uuid) -> Result<Vec<MenuRow>, StoreError> {
        let client = self.pool.get().await?;
        let rows = client
            .query(
                "SELECT id, definition, updated_at FROM ivr_menus WHERE org_id = $1 ORDER BY lower(name)",
                &[&org_id],
            )
            .await?;
        rows.iter()
            .map(|r| {
                Ok(MenuRow {
                    id: r.try_get(0)?,
                    menu: decode(r.try_get(1)?)?,
                    updated_at: r.try_get(2)?,
                })
            })
            .collect()
    }

    pub async fn menu(&self, org_id: Uuid, id: Uuid) -> Result<Option<Menu>, StoreError> {
        let client = self.pool.get().await?;
        let row = client
            .query_opt(
                "SELECT definition FROM ivr_menus WHERE id = $1 AND org_id = $2",
                &[&id, &org_id],
            )
            .await?;
        row.map(|r| decode(r.try_get(0)?)).transpose()
    }

    /// Deletes a menu no number or other menu points at.
    pub async fn delete_menu(&self, org_id: Uuid, id: Uuid) -> Result<(), ConfigError> {
        let mut client = self.pool.get().await?;
        let tx = client.transaction().await?;
        tx.execute(
            "SELECT pg_advisory_xact_lock(hashtext('ivr_menus'), hashtext($1::uuid::text))",
            &[&org_id],
        )
        .await?;
        let own_name: Option<String> = tx
            .query_opt(
                "SELECT 'menu ' || name FROM ivr_menus WHERE id = $1 AND org_id = $2",
                &[&id, &org_id],
            )
            .await?
            .map(|r| r.get(0));
        let Some(own_name) = own_name else {
            return Err(ConfigError::NotFound(format!("menu {id}")));
        };
        // A menu leading back to itself does not keep it alive.
        let users: Vec<String> = users_of(&tx, org_id, "menu_id", id)
            .await?
            .into_iter()
            .filter(|u| *u != own_name)
            .collect();
        if !users.is_empty() {
            return Err(ConfigError::InUse(format!(
                "the menu is in use by {}: point them elsewhere first",
                users.join(", ")
            )));
        }
        tx.execute("DELETE FROM ivr_menus WHERE id = $1", &[&id])
            .await?;
        tx.commit().await?;
        Ok(())
    }

    // ---- numbers -----------------------------------------------------------------------------

    /// Creates (`id` None) or replaces a number of the organization.
    pub async fn put_number(
        &self,
        org_id: Uuid,
        id: Option<Uuid>,
        number: &NumberConfig,
    ) -> Result<NumberRow, ConfigError> {
        let mut client = self.pool.get().await?;
        let tx = client.transaction().await?;
        check_targets(&tx, org_id, number.actions().into_iter()).await?;
        let params: [&(dyn tokio_postgres::types::ToSql + Sync); 9] = [
            &org_id,
            &number.number,
            &number.label,
            &number.profile_id,
            &number.menu_id,
            &number.hours.as_ref().map(json),
            &number.after_hours.as_ref().map(json),
            &number.fallback.as_ref().map(json),
            &id.unwrap_or_else(Uuid::now_v7),
        ];
        let taken = format!("the number {} is configured already", number.number);
        let row = match id {
            None => tx
                .query_one(
                    "INSERT INTO phone_numbers (org_id, number, label, profile_id, menu_id, hours,
                                                after_hours, fallback, id)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
                     RETURNING id, number, label, profile_id, menu_id, hours, after_hours,
                               fallback, updated_at",
                    &params,
                )
                .await
                .map_err(conflict_on_unique(taken))?,
            Some(id) => tx
                .query_opt(
                    "UPDATE phone_numbers SET number = $2, label = $3, profile_id = $4, menu_id = $5,
                            hours = $6, after_hours = $7, fallback = $8, updated_at = now()
                     WHERE id = $9 AND org_id = $1
                     RETURNING id, number, label, profile_id, menu_id, hours, after_hours,
                               fallback, updated_at",
                    &params,
                )
                .await
                .map_err(conflict_on_unique(taken))?
                .ok_or_else(|| ConfigError::NotFound(format!("number {id}")))?,
        };
        tx.commit().await?;
        Ok(number_row(&row)?)
    }

    pub async fn numbers(&self, org_id: Uuid) -> Result<Vec<NumberRow>, StoreError> {
        let client = self.pool.get().await?;
        let rows = client
            .query(
                &format!("{NUMBER} WHERE org_id = $1 ORDER BY number"),
                &[&org_id],
            )
            .await?;
        rows.iter().map(number_row).collect()
    }

    pub async fn delete_number(&self, org_id: Uuid, id: Uuid) -> Result<(), ConfigError> {
        let client = self.pool.get().await?;
        let deleted = client
            .execute(
                "DELETE FROM phone_numbers WHERE id = $1 AND org_id = $2",
                &[&id, &org_id],
            )
            .await?;
        if deleted == 0 {
            return Err(ConfigError::NotFound(format!("number {id}")));
        }
        Ok(())
    }

    /// The organization's configuration of the number a call was made to, if it has one.
    pub async fn number_for_call(
        &self,
        org_id: Uuid,
        to: &str,
    ) -> Result<Option<NumberRow>, StoreError> {
        let client = self.pool.get().await?;
        let row = client
            .query_opt(
                &format!("{NUMBER} WHERE org_id = $1 AND number = $2"),
                &[&org_id, &to],
            )
            .await?;
        row.as_ref().map(number_row).transpose()
    }

    /// Sets the profile (at its current version) a call will run with; returns the version, or
    /// `None` when the organization has no such live profile.
    pub async fn assign_call_profile(
        &self,
        org_id: Uuid,
        call_id: Uuid,
        profile_id: Uuid,
    ) -> Result<Option<i32>, StoreError> {
        let client = self.pool.get().await?;
        let row = client
            .query_opt(
                "UPDATE calls c SET profile_id = p.id, profile_version = p.current_version,
                        updated_at = now()
                 FROM agent_profiles p
                 WHERE c.id = $1 AND c.org_id = $2 AND p.id = $3 AND p.org_id = $2
                   AND p.deleted_at IS NULL
                 RETURNING p.current_version",
                &[&call_id, &org_id, &profile_id],
            )
            .await?;
        Ok(row.map(|r| r.get(0)))
    }

    /// The profile version a call was assigned, if any.
    pub async fn call_profile(&self, call_id: Uuid) -> Result<Option<CallProfile>, StoreError> {
        let client = self.pool.get().await?;
        let row = client
            .query_opt(
                "SELECT v.profile_id, v.version, v.config FROM calls c
                 JOIN agent_profile_versions v
                   ON v.profile_id = c.profile_id AND v.version = c.profile_version
                 WHERE c.id = $1",
                &[&call_id],
            )
            .await?;
        row.map(|r| {
            Ok(CallProfile {
                id: r.try_get(0)?,
                version: r.try_get(1)?,
                config: decode(r.try_get(2)?)?,
            })
        })
        .transpose()
    }

    /// How the call's stream was ended by the engine, if for the call to go on elsewhere: the
    /// last `transferred` or `ai_unavailable` system message of the call.
    pub async fn call_exit(
        &self,
        org_id: Uuid,
        call_id: Uuid,
    ) -> Result<Option<CallExit>, StoreError> {
        let client = self.pool.get().await?;
        let row = client
            .query_opt(
                "SELECT m.metadata->>'system_event_type', m.metadata->>'number'
                 FROM calls c JOIN messages m ON m.conversation_id = c.conversation_id
                 WHERE c.id = $1 AND c.org_id = $2 AND m.message_type = 'system'
                   AND m.metadata->>'call_id' = $1::uuid::text
                   AND m.metadata->>'system_event_type' IN ('transferred', 'ai_unavailable')
                 ORDER BY m.\"timestamp\" DESC LIMIT 1",
                &[&call_id, &org_id],
            )
            .await?;
        Ok(row.and_then(|r| {
            let kind: Option<String> = r.get(0);
            let number: Option<String> = r.get(1);
            match (kind.as_deref(), number) {
                (Some("transferred"), Some(number)) => Some(CallExit::Transfer { number }),
                (Some("ai_unavailable"), _) => Some(CallExit::AiUnavailable),
                _ => None,
            }
        }))
    }

    /// The organization's record of the customer with this phone number, for the agent's
    /// `lookup_customer`: name, email, the customer's own fields, and their last five
    /// conversations (channel, when, status, summary, outcome).
    pub async fn customer_lookup(
        &self,
        org_id: Uuid,
        phone: &str,
    ) -> Result<Option<serde_json::Value>, StoreError> {
        let client = self.pool.get().await?;
        let row = client
            .query_opt(
                "SELECT jsonb_build_object(
                    'name', cu.name, 'email', cu.email, 'phone', cu.phone, 'fields', cu.metadata,
                    'recent_conversations', coalesce((
                        SELECT jsonb_agg(jsonb_build_object('channel', c.channel,
                                   'started_at', c.initiated_at, 'status', c.status,
                                   'summary', c.ai_summary, 'outcome', c.outcome)
                               ORDER BY c.initiated_at DESC)
                        FROM (SELECT * FROM conversations
                              WHERE customer_id = cu.id AND org_id = cu.org_id
                              ORDER BY initiated_at DESC LIMIT 5) c), '[]'::jsonb))
                 FROM customers cu WHERE cu.org_id = $1 AND cu.phone = $2",
                &[&org_id, &phone],
            )
            .await?;
        Ok(row.map(|r| r.get(0)))
    }
}
