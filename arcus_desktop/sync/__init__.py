"""Optional sync of memories with a team's Supabase project. The only importer of supabase."""
