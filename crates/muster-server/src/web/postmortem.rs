//! The postmortem as a printable page: the same document the Markdown
//! export renders (`muster_domain::postmortem::document`), in HTML that
//! reads in dark mode, on a phone and on paper.

use std::sync::Arc;

use askama::Template;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use muster_app::App;
use muster_domain::postmortem::document::{Block, Document};

use super::{Posted, Viewer, back, message, page_error};

pub struct BlockView {
    pub kind: &'static str,
    pub text: String,
    pub rows: Vec<(String, String)>,
    pub items: Vec<String>,
    pub head: Vec<String>,
    pub table: Vec<Vec<String>>,
}

pub struct PartView {
    pub heading: String,
    pub blocks: Vec<BlockView>,
}

#[derive(Template)]
#[template(path = "postmortem.html")]
struct PostmortemPage {
    title: String,
    byline: String,
    parts: Vec<PartView>,
    footer: String,
}

fn view(b: &Block) -> BlockView {
    let mut v = BlockView {
        kind: "",
        text: String::new(),
        rows: Vec::new(),
        items: Vec::new(),
        head: Vec::new(),
        table: Vec::new(),
    };
    match b {
        Block::Text { text } => (v.kind, v.text) = ("text", text.clone()),
        Block::Prompt { text } => (v.kind, v.text) = ("prompt", text.clone()),
        Block::Subheading { text } => (v.kind, v.text) = ("subheading", text.clone()),
        Block::Facts { rows } => (v.kind, v.rows) = ("facts", rows.clone()),
        Block::List { items } => (v.kind, v.items) = ("list", items.clone()),
        Block::Table { head, rows } => (v.kind, v.head, v.table) = ("table", head.clone(), rows.clone()),
    }
    v
}

/// The page of `doc`.
pub fn page(doc: &Document) -> String {
    let page = PostmortemPage {
        title: doc.title.clone(),
        byline: doc.byline.clone(),
        parts: doc
            .parts
            .iter()
            .map(|p| PartView { heading: p.heading.clone(), blocks: p.blocks.iter().map(view).collect() })
            .collect(),
        footer: doc.footer.clone(),
    };
    page.render().unwrap_or_else(|e| format!("the postmortem page failed to render: {e}"))
}

/// The incident's postmortem as its printable page, or what to do while
/// there is none.
pub async fn show(State(app): State<Arc<App>>, viewer: Viewer, Path(r): Path<String>) -> Response {
    let r = match super::incident::incident_ref(&r) {
        Ok(r) => r,
        Err(e) => return page_error(e),
    };
    match app.postmortem(r).await {
        Ok(p) => ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], page(&p.document)).into_response(),
        Err(muster_app::Error::NotFound(_)) => {
            let text = format!(
                "{r} has no postmortem yet. Once {r} is resolved, anyone who took part drafts it from its page; \
                 the facts fill themselves in from the timeline."
            );
            message(&viewer, StatusCode::NOT_FOUND, "No postmortem yet", &text)
        }
        Err(e) => page_error(e.into()),
    }
}

/// Drafts the postmortem (the incident page's button).
pub async fn draft(State(app): State<Arc<App>>, Path(r): Path<String>, form: Posted) -> Response {
    let result = async {
        let r = super::incident::incident_ref(&r)?;
        app.draft_postmortem(&form.viewer.user.actor(), r, None).await?;
        Ok::<_, crate::error::ApiError>(r)
    }
    .await;
    match result {
        Ok(r) => back(&format!("/incidents/{r}/postmortem"), Ok(String::new())),
        Err(e) => back(&format!("/incidents/{r}#postmortem"), Err(e)),
    }
}
