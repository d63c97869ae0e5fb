//! The databases the suites run on, and [`backend_test!`], which runs a test
//! body once per backend: on SQLite always, on PostgreSQL when
//! `TEST_POSTGRES_URL` names one (without it those variants say so and pass,
//! except under `CI=true`, where they fail).
//!
//! A body names what it starts from as its arguments, each [`Given`]: a
//! [`TestApp`] (a server with the test configuration), a [`TestDatabase`], the
//! [`Backend`] itself (to start servers of its own configuration), or a
//! suite's own (the multi-instance suite's Redis).

use std::future::Future;

use canvas_server::Config;

use super::{
    database::{postgres_admin_url, TestDatabase},
    test_config, TestApp,
};

/// A database the server runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    /// Whether this backend can be tested here; says why not (once) when not.
    pub fn available(self) -> bool {
        match self {
            Self::Sqlite => true,
            Self::Postgres => postgres_admin_url().is_some(),
        }
    }

    /// A new empty database on this backend.
    pub fn database(self) -> TestDatabase {
        TestDatabase::create(self).expect("the backend was checked before the test began")
    }

    /// A server with [`test_config`] over a new database.
    pub async fn spawn(self) -> TestApp {
        self.spawn_with(test_config()).await
    }

    /// A server with `config` (its database is replaced by a new one).
    pub async fn spawn_with(self, config: Config) -> TestApp {
        TestApp::start(config, self.database().into()).await
    }
}

/// What a backend test's body can be given: made for the backend it runs on,
/// or `None` (with the reason printed) when it is not available here, which
/// skips the test.
pub trait Given: Sized {
    fn given(backend: Backend) -> impl Future<Output = Option<Self>>;
}

impl Given for Backend {
    async fn given(backend: Backend) -> Option<Self> {
        Some(backend)
    }
}

impl Given for TestApp {
    async fn given(backend: Backend) -> Option<Self> {
        Some(backend.spawn().await)
    }
}

impl Given for TestDatabase {
    async fn given(backend: Backend) -> Option<Self> {
        Some(backend.database())
    }
}

/// A test body taking its arguments from [`Given`]: a function of one or two.
pub trait TestBody<Args> {
    fn run(self, backend: Backend) -> impl Future<Output = ()>;
}

impl<F, Fut, A> TestBody<(A,)> for F
where
    F: FnOnce(A) -> Fut,
    Fut: Future<Output = ()>,
    A: Given,
{
    async fn run(self, backend: Backend) {
        let Some(a) = A::given(backend).await else {
            return;
        };
        self(a).await;
    }
}

impl<F, Fut, A, B> TestBody<(A, B)> for F
where
    F: FnOnce(A, B) -> Fut,
    Fut: Future<Output = ()>,
    A: Given,
    B: Given,
{
    async fn run(self, backend: Backend) {
        let Some(a) = A::given(backend).await else {
            return;
        };
        let Some(b) = B::given(backend).await else {
            return;
        };
        self(a, b).await;
    }
}

/// Runs `body` on `backend`, or skips it (saying why) when the backend is not
/// available here.
pub async fn run_on<Args>(backend: Backend, body: impl TestBody<Args>) {
    if backend.available() {
        body.run(backend).await;
    }
}

/// Waits for a turn of its own among the tests that take one, until the
/// guard is dropped: for a test loading the machine so much that two copies
/// at once (its SQLite and PostgreSQL variants) starve each other's sockets.
pub async fn heavy_test_turn() -> tokio::sync::MutexGuard<'static, ()> {
    static TURN: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    TURN.lock().await
}

/// Runs the test body `name` (an async function taking [`Given`]
/// arguments) once per backend, as the tests `name::sqlite` and
/// `name::postgres`; written on the line before the function:
///
/// ```ignore
/// backend_test!(creating_a_board_makes_the_caller_its_owner);
/// async fn creating_a_board_makes_the_caller_its_owner(app: TestApp) {
///     let ada = app.register("ada").await;
///     // ...
/// }
/// ```
///
/// The test attribute is `#[tokio::test]` unless another is given first:
/// `backend_test!(#[tokio::test(flavor = "multi_thread")] name)`.
macro_rules! backend_test {
    ($name:ident) => {
        $crate::harness::backend_test!(
            #[tokio::test]
            $name
        );
    };
    (#[$test:meta] $name:ident) => {
        mod $name {
            #[$test]
            async fn sqlite() {
                $crate::harness::run_on($crate::harness::Backend::Sqlite, super::$name).await;
            }

            #[$test]
            async fn postgres() {
                $crate::harness::run_on($crate::harness::Backend::Postgres, super::$name).await;
            }
        }
    };
}

pub(crate) use backend_test;
