//! The postmortem as a printable page: the same document the Markdown
//! export renders (`muster_domain::postmortem::document`), in HTML that
//! reads in dark mode, on a phone and on paper.

use askama::Template;
use muster_domain::postmortem::document::{Block, Document};

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
