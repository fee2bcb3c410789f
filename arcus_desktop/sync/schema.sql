-- Arcus Desktop: shared memories on Supabase.
-- Apply once per Supabase project (SQL editor, or psql as the postgres role). Safe to
-- run again: every statement checks what exists.
--
-- Each user owns their rows; rows marked shared are readable by everyone in the row's
-- team (team membership lives in arcus_team_members), and only the team's members may
-- file rows under it; nobody can hard-delete through the API (deletes are tombstones:
-- deleted_at set, content cleared); the server stamps updated_at and ignores writes
-- that carry an older version than the row it has.

create extension if not exists vector with schema extensions;

create table if not exists public.arcus_team_members (
    team_id uuid not null,
    user_id uuid not null,
    primary key (team_id, user_id)
);

create table if not exists public.memories (
    id uuid primary key,                      -- made on the device
    user_id uuid not null default auth.uid(),
    team_id uuid,
    shared boolean not null default false,
    kind text not null check (kind in ('episodic', 'semantic', 'procedural')),
    content text not null,
    metadata jsonb not null default '{}'::jsonb,
    importance real not null default 0.5,
    embedding extensions.vector(256),         -- wordllama-256; other models: other columns
    embedding_model text,
    occurred_at timestamptz not null,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default clock_timestamp(),
    deleted_at timestamptz,
    version bigint not null default 1,
    device_id text
);

-- Pull reads by (updated_at, id) per user; similarity search filters by user or team
-- before ranking (an HNSW index with a selective filter can return too few rows).
create index if not exists memories_user_updated on public.memories (user_id, updated_at, id);
create index if not exists memories_team_shared on public.memories (team_id) where shared;

-- Teams a user belongs to, readable inside policies without recursing into RLS.
create or replace function public.arcus_my_teams() returns setof uuid
    language sql stable security definer set search_path = public
    as $$ select team_id from public.arcus_team_members where user_id = auth.uid() $$;
revoke all on function public.arcus_my_teams from public, anon;
grant execute on function public.arcus_my_teams to authenticated;

-- Server time on every write; a write older than the stored row is dropped (an upsert
-- that loses reports no row, and the client keeps the server's version).
create or replace function public.arcus_memories_stamp() returns trigger
    language plpgsql set search_path = public
    as $$
begin
    if tg_op = 'UPDATE' then
        if new.version <= old.version then
            return null;
        end if;
        new.user_id := old.user_id;           -- a row never changes hands
        new.created_at := old.created_at;
    end if;
    new.updated_at := clock_timestamp();
    return new;
end $$;

drop trigger if exists arcus_memories_stamp on public.memories;
create trigger arcus_memories_stamp before insert or update on public.memories
    for each row execute function public.arcus_memories_stamp();

alter table public.memories enable row level security;
alter table public.arcus_team_members enable row level security;

drop policy if exists "read own" on public.memories;
create policy "read own" on public.memories for select to authenticated
    using (user_id = auth.uid());
drop policy if exists "read team shared" on public.memories;
create policy "read team shared" on public.memories for select to authenticated
    using (shared and team_id in (select public.arcus_my_teams()));
-- Writes: own rows only, and filed under no team or one of the writer's own teams, so
-- nobody can put rows (shared or not) into a team they are not in.
drop policy if exists "insert own" on public.memories;
create policy "insert own" on public.memories for insert to authenticated
    with check (user_id = auth.uid()
                and (team_id is null or team_id in (select public.arcus_my_teams())));
drop policy if exists "update own" on public.memories;
create policy "update own" on public.memories for update to authenticated
    using (user_id = auth.uid())
    with check (user_id = auth.uid()
                and (team_id is null or team_id in (select public.arcus_my_teams())));
drop policy if exists "see own teams" on public.arcus_team_members;
create policy "see own teams" on public.arcus_team_members for select to authenticated
    using (user_id = auth.uid());

-- Supabase grants anon and authenticated everything on new tables: take back what RLS
-- alone should not be trusted with.
revoke all on public.memories from anon;
revoke all on public.arcus_team_members from anon;
revoke delete, truncate on public.memories from authenticated;
revoke insert, update, delete, truncate on public.arcus_team_members from authenticated;
grant select, insert, update on public.memories to authenticated;
grant select on public.arcus_team_members to authenticated;

-- Nearest memories the caller may read (its own, and its teams' shared ones when asked),
-- with the caller's rights (security invoker), so the policies above still apply.
create or replace function public.match_memories(
    query_embedding extensions.vector(256),
    match_count int default 10,
    filter_kind text default null,
    include_shared boolean default true
) returns table (id uuid, user_id uuid, team_id uuid, shared boolean, kind text,
                 content text, importance real, occurred_at timestamptz, similarity float)
    language sql stable security invoker set search_path = public, extensions
    as $$
    select m.id, m.user_id, m.team_id, m.shared, m.kind, m.content, m.importance,
           m.occurred_at, 1 - (m.embedding <=> query_embedding) as similarity
    from public.memories m
    where m.deleted_at is null and m.embedding is not null
      and (filter_kind is null or m.kind = filter_kind)
      and (m.user_id = auth.uid() or (include_shared and m.shared))
    order by m.embedding <=> query_embedding
    limit least(match_count, 200)
    $$;
revoke all on function public.match_memories from public, anon;
grant execute on function public.match_memories to authenticated;

notify pgrst, 'reload schema';
