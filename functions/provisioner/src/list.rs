//! `GET /shares`: pages sorted by name, one `GetRole` per share on the page.

use serde_json::json;
use trailshare::ports::{RolePaths, RoleStore, WorkQueue};

use crate::error::{ApiError, Result};
use crate::ApiRequest;
use crate::ApiResponse;
use crate::Provisioner;
use trailshare::record::share_name;
use trailshare::share::validate_name;

impl<S: RoleStore, Q: WorkQueue, P: RolePaths> Provisioner<S, Q, P> {
    /// `GET /shares?limit=N&next=T`: one page, sorted by name. Costs one
    /// `ListRoles` per 1,000 roles (names only) and one `GetRole` per share
    /// on the page, never a call per share beyond it.
    pub(crate) async fn list(&self, request: &ApiRequest) -> Result<ApiResponse> {
        let limit = match request.query_param("limit") {
            None => DEFAULT_PAGE,
            Some(text) => text
                .parse::<usize>()
                .ok()
                .filter(|n| (1..=MAX_PAGE).contains(n))
                .ok_or_else(|| {
                    ApiError::new(
                        400,
                        "invalid_field",
                        format!("limit: must be a whole number from 1 to {MAX_PAGE}"),
                    )
                    .on("limit")
                })?,
        };
        let after = match request.query_param("next") {
            None => None,
            Some(token) => Some(page_token_name(token).ok_or_else(|| {
                ApiError::new(400, "invalid_field", "next: not a token this API gave").on("next")
            })?),
        };
        let path = &self.config.share_role_path;
        let mut names: Vec<(String, String)> = self
            .store
            .list_summaries(path)
            .await?
            .into_iter()
            // The path holds only trailshare's roles; others are not shares.
            .filter_map(|role| {
                share_name(&role.role_name).map(|name| (name.to_string(), role.role_name.clone()))
            })
            .collect();
        names.sort();
        let rest: Vec<&(String, String)> = names
            .iter()
            .filter(|(name, _)| after.as_ref().is_none_or(|after| name > after))
            .collect();
        let mut shares = Vec::new();
        for (_, role_name) in rest.iter().take(limit) {
            // A role deleted since the listing is simply not on the page.
            if let Some(role) = self.store.get(path, role_name).await? {
                shares.push(self.render_found(&self.classify(role)));
            }
        }
        let mut page = json!({ "shares": shares });
        if rest.len() > limit {
            page["next"] = json!(page_token(&rest[limit - 1].0));
        }
        Ok(ApiResponse::json(200, &page))
    }
}

/// `GET /shares` page sizes.
pub(crate) const DEFAULT_PAGE: usize = 50;

pub(crate) const MAX_PAGE: usize = 100;

/// The `next` token: the last name of the page, opaque to callers.
pub(crate) fn page_token(last_name: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(last_name)
}

pub(crate) fn page_token_name(token: &str) -> Option<String> {
    use base64::Engine;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(token)
        .ok()?;
    String::from_utf8(bytes)
        .ok()
        .filter(|name| validate_name(name).is_ok())
}
