#!/usr/bin/env python3
"""Build tests/data/memory_eval_long.json, the second memory retrieval set.

Written separately from make_memory_eval.py (a product team talking to its assistant)
and shaped like the public long-conversation benchmarks instead: pairs of friends
chatting over many sessions across months, each turn said by a named person, with
questions about one of them of four kinds:
  single-hop  one turn answers it, usually in other words than the question's
  multi-hop   two turns from different sessions are needed (the same kind of event twice)
  temporal    "when": the answer is the session date of a turn that says "yesterday",
              "last weekend" and so on
  open        an inference from what someone said ("would she enjoy ...?")
Distractors on purpose: the other friend doing something alike, the same kinds of events
in every pair (other names, places, pets), small talk that shares common words, and
greetings that use the person's name.

All templates and word lists below are hand-written for this project. The script picks
from them with a fixed seed; running it twice gives the same bytes. Conversations (pairs
of friends) 1-6 are the tuning half, 7-12 the held-out half: every parameter of recall is
chosen on the tuning half only.

    python tests/data/make_memory_eval_long.py          # writes memory_eval_long.json
    python tests/data/make_memory_eval_long.py --check  # the file matches the script
"""

from __future__ import annotations

import json
import random
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

SEED = 20261201
PAIRS = 12
TUNE_PAIRS = 6

NAMES = ["Maya", "Jonah", "Priya", "Leon", "Sofia", "Marcus", "Hannah", "Tomas", "Aisha",
         "Ravi", "Clara", "Diego", "Nora", "Felix", "Yuki", "Omar", "Elena", "Sam", "Ingrid",
         "Kwame", "Lucia", "Ben", "Mei", "Gabriel"]

# (phrase said in the turn, days before the session it refers to)
WHEN = [("yesterday", 1), ("last weekend", 6), ("last week", 7), ("two weeks ago", 14),
        ("this past Saturday", 3), ("on Sunday", 2), ("last month", 30), ("a few days ago", 3),
        ("this morning", 0), ("last Friday", 4)]

POOLS = {
    "animal": [("dog", "puppy"), ("cat", "kitten"), ("rabbit", "bunny"), ("parrot", "bird"),
               ("tortoise", "little guy"), ("hamster", "furball")],
    "petname": ["Biscuit", "Pepper", "Mochi", "Juniper", "Waffles", "Ziggy", "Olive", "Pickles",
                "Nutmeg", "Banjo", "Clementine", "Rocket"],
    "breed": ["a beagle mix", "a tabby", "a lop-eared one", "a rescue from the shelter",
              "the runt of the litter", "a ginger one with white paws"],
    "city": [("Lisbon", "Portugal"), ("Kyoto", "Japan"), ("Reykjavik", "Iceland"),
             ("Oaxaca", "Mexico"), ("Edinburgh", "Scotland"), ("Vancouver", "Canada"),
             ("Marrakesh", "Morocco"), ("Hanoi", "Vietnam"), ("Krakow", "Poland"),
             ("Cape Town", "South Africa"), ("Tallinn", "Estonia"), ("Santiago", "Chile")],
    "trip_why": ["my cousin's wedding", "a work conference", "a solo trip I'd been saving for",
                 "my best friend's fortieth", "a food tour", "a hiking trip with my brother"],
    "trip_detail": ["the street food was unreal, I ate way too much", "it rained every single day but I didn't care",
                    "we stayed in a tiny apartment above a bakery", "I got completely lost in the old town twice",
                    "the views from the hills were incredible"],
    "instrument": ["guitar", "piano", "cello", "ukulele", "drums", "violin", "saxophone"],
    "teacher": ["a retired jazz musician", "a college student down the street", "an online course",
                "a woman from my church", "my neighbor's son"],
    "craft": ["pottery", "watercolor painting", "woodworking", "knitting", "rock climbing",
              "salsa dancing", "photography", "calligraphy"],
    "role": ["nurse at the children's hospital", "project manager at a solar company",
             "barista at a cafe downtown", "teacher at an elementary school",
             "software developer at a bank", "paramedic", "librarian at the city library",
             "chef at an Italian restaurant", "social worker", "graphic designer at an agency"],
    "race": ["half marathon", "10K charity run", "trail race up the mountain", "triathlon",
             "5K fun run", "cycling sportive"],
    "race_place": ["by the river", "downtown", "in the state park", "along the coast"],
    "book": [("The Night Circus", "Erin Morgenstern"), ("Educated", "Tara Westover"),
             ("Project Hail Mary", "Andy Weir"), ("Pachinko", "Min Jin Lee"),
             ("Circe", "Madeline Miller"), ("Sapiens", "Yuval Noah Harari"),
             ("The Overstory", "Richard Powers"), ("Becoming", "Michelle Obama")],
    "family": ["my sister", "my brother", "my mom", "my dad", "my grandma", "my cousin Leila",
               "my nephew", "my aunt"],
    "family_event": [("got married", "wedding"), ("graduated from college", "graduation"),
                     ("turned seventy", "birthday party"), ("had a baby girl", "baby"),
                     ("retired after thirty years", "retirement party"),
                     ("moved back from overseas", "homecoming")],
    "bodypart": ["ankle", "wrist", "knee", "shoulder", "back"],
    "sport": ["playing soccer", "skateboarding with my kid", "on a hike", "at the gym",
              "playing basketball", "moving furniture"],
    "purchase": [("a used car", "a little blue hatchback"), ("an electric bike", "it folds up"),
                 ("a new camera", "a mirrorless one, second hand"), ("a camper van", "an old VW"),
                 ("a piano", "an upright from the nineteen-sixties"), ("a house", "a small place with a yard")],
    "dish": ["lasagna", "homemade dumplings", "a lemon tart", "paella", "banana bread",
             "a vegan curry", "sourdough bread", "tamales"],
    "occasion": ["my partner's birthday", "a potluck at work", "the neighbors", "my book club",
                 "our anniversary", "my kids' school fair"],
    "cause": [("the animal shelter", "walking dogs and cleaning kennels"),
              ("a food bank", "sorting donations and packing boxes"),
              ("a youth center", "tutoring kids in math after school"),
              ("the community garden", "building raised beds"),
              ("a crisis hotline", "taking calls on the night shift"),
              ("a refugee support group", "teaching English on Saturdays")],
    "band": ["Florence and the Machine", "Arctic Monkeys", "a jazz trio", "the symphony orchestra",
             "Coldplay", "a local punk band", "Norah Jones", "an Irish folk group"],
    "venue": ["the old theater", "an outdoor festival", "a tiny bar", "the stadium", "the park"],
    "plants": ["tomatoes and basil", "sunflowers", "strawberries", "chili peppers", "roses",
               "zucchini and beans"],
    "course": ["a pottery class", "a coding bootcamp", "an evening Spanish course",
               "a first aid course", "a creative writing workshop", "a sign language class"],
}

# Each kind of event: what its owner says first (the fact), what the friend says back
# (shares its words: a distractor), what the owner adds (a detail in other words),
# questions of each kind, and the questions for the same event twice (multi-hop).
# {when} is a relative time; {n} the owner's name in questions.
TOPICS = {
    "pet": {
        "say": ["Guess what, I adopted a {animal[0]} {when}! Her name is {petname}.",
                "We finally brought home a {animal[1]} {when}. We named him {petname}.",
                "So {when} I went to the shelter just to look and came home with a {animal[0]}. Meet {petname}!"],
        "ask": ["Aww, a {animal[0]}! What's {petname} like?", "That's so exciting, I love {animal[0]}s. How is {petname} settling in?",
                "No way! Send me pictures of the {animal[1]}."],
        "more": ["{petname} is {breed}, and so cuddly. Sleeps on my feet every night.",
                 "Honestly still getting used to it. {petname} is {breed} and already chewed two of my shoes."],
        "q_single": [("What is the name of {n}'s {animal[0]}?", "say"), ("What kind of animal did {n} adopt?", "say"),
                     ("What does {n}'s new pet look like?", "more")],
        "q_when": ["When did {n} adopt {petname}?", "When did {n} get a {animal[0]}?"],
        "q_open": ["Would {n} be a good fit to volunteer at an animal rescue?", "Is {n} likely an animal lover?"],
        "q_multi": ["What pets does {n} have?", "What are the names of {n}'s pets?"],
    },
    "trip": {
        "say": ["I just got back from {city[0]}! Flew out {when} for {trip_why}.",
                "{when} I was in {city[0]}, {city[1]}, for {trip_why}.",
                "Did I tell you I went to {city[1]}? I spent a few days in {city[0]} {when}, it was for {trip_why}."],
        "ask": ["Oh I've always wanted to go to {city[1]}! How was it?", "How was {city[0]}? Was it worth the flight?",
                "Traveling again! What was the best part?"],
        "more": ["Amazing, {trip_detail}.", "So good. {trip_detail}, and I already want to go back."],
        "q_single": [("Which country did {n} visit for {trip_why_q}?", "say"), ("Where did {n} travel to for {trip_why_q}?", "say"),
                     ("What did {n} enjoy most about the trip to {city[0]}?", "more")],
        "q_when": ["When did {n} go to {city[0]}?", "When was {n} in {city[1]}?"],
        "q_open": ["Does {n} enjoy traveling abroad?", "Would {n} like a job that involves a lot of international travel?"],
        "q_multi": ["Which cities has {n} visited?", "What countries has {n} been to?"],
    },
    "music": {
        "say": ["I started {instrument} lessons {when}, my fingers hurt so much.",
                "So I bought a {instrument} {when} and I'm taking lessons from {teacher}.",
                "Random update: I've been learning the {instrument} since {when}."],
        "ask": ["You're learning {instrument}? That's awesome! Who's teaching you?", "I tried {instrument} once and gave up. Are you enjoying it?",
                "Oh nice, music is such a good way to unwind."],
        "more": ["My teacher is {teacher}. I practice every night after dinner.", "Loving it. I'm learning from {teacher} and I can almost play a whole song."],
        "q_single": [("What instrument is {n} learning to play?", "say"), ("Who is teaching {n} to play music?", "more")],
        "q_when": ["When did {n} start learning the {instrument}?"],
        "q_open": ["Would {n} enjoy going to a music festival?", "Is {n} someone who likes picking up creative hobbies?"],
        "q_multi": ["What instruments has {n} been learning?"],
    },
    "craft": {
        "say": ["I signed up for {craft} {when}, first session was so fun.", "{when} I tried {craft} for the first time and I'm hooked.",
                "My new obsession is {craft}. Started {when}."],
        "ask": ["{craft}? I didn't know you were into that.", "That sounds relaxing. Is it hard to get into?",
                "Oh fun, my cousin does {craft} too."],
        "more": ["It's really calming, I forget about work for a few hours.", "I'm terrible at it so far but the group is lovely and I keep going back."],
        "q_single": [("What new hobby did {n} pick up?", "say"), ("What activity did {n} recently get into?", "say"),
                     ("How does {n} feel about the new hobby?", "more")],
        "q_when": ["When did {n} start doing {craft}?"],
        "q_open": ["Would {n} enjoy an arts and crafts fair?", "Does {n} need ways to relax from stress at work?"],
        "q_multi": ["What hobbies has {n} taken up?", "What activities has {n} started doing for fun?"],
    },
    "job": {
        "say": ["Big news, I got the job! I'm starting as a {role}.", "I accepted an offer {when}, I'm going to be a {role}.",
                "So I quit my old job {when}. I'm a {role} now."],
        "ask": ["Congratulations!! When do you start?", "Wow, that's a big change. Are you nervous?",
                "That's amazing news, you deserve it."],
        "more": ["Thanks! The team seems great and the commute is only twenty minutes.", "A little nervous, it's a lot more responsibility than before, but I'm excited."],
        "q_single": [("What is {n}'s new job?", "say"), ("What does {n} do for a living now?", "say"), ("How does {n} feel about the new position?", "more")],
        "q_when": ["When did {n} accept the new job?"],
        "q_open": ["Is {n} likely to be working in a field that helps people?", "Does {n} have a stable career?"],
        "q_multi": ["What jobs has {n} had over the past year?"],
    },
    "race": {
        "say": ["I ran a {race} {when}! Finished without walking.", "{when} I did the {race} {race_place}, my legs are dead.",
                "Finally crossed the finish line of a {race} {when}."],
        "ask": ["That's incredible, how long did you train for it?", "Wow, a {race}! I can barely run for a bus.",
                "Congrats! What was your time?"],
        "more": ["About three months of training, up at six most mornings.", "Slower than I wanted but I'm proud I finished it."],
        "q_single": [("What race did {n} take part in?", "say"), ("How long did {n} train before the event?", "more")],
        "q_when": ["When did {n} run the {race}?", "When did {n} do the {race}?"],
        "q_open": ["Is {n} a physically active person?", "Would {n} be interested in joining a running club?"],
        "q_multi": ["What races has {n} competed in?"],
    },
    "book": {
        "say": ["I just finished {book[0]} by {book[1]}, you have to read it.", "{when} I started reading {book[0]}, can't put it down.",
                "My book club picked {book[0]} and I read it in two nights."],
        "ask": ["What's it about?", "Oh I've heard of {book[1]}! Is it as good as people say?",
                "I need a new book, maybe I'll borrow it."],
        "more": ["It made me cry on the train, honestly one of the best things I've read.", "It's beautifully written, a bit slow at the start but worth it."],
        "q_single": [("What book did {n} recommend?", "say"), ("Who wrote the book {n} was reading?", "say"),
                     ("What did {n} think of the novel?", "more")],
        "q_when": ["When did {n} start reading {book[0]}?"],
        "q_open": ["Does {n} enjoy reading?", "Would {n} like a gift card to a bookstore?"],
        "q_multi": ["What books has {n} read recently?", "Which authors has {n} talked about reading?"],
    },
    "family": {
        "say": ["{family} {family_event[0]} {when}, the whole family was there.", "Big family news: {family} {family_event[0]} {when}.",
                "I was away {when} because {family} {family_event[0]}."],
        "ask": ["That's wonderful! How was the {family_event[1]}?", "Aw, congratulations to your family!",
                "Family stuff is the best. Was everyone there?"],
        "more": ["It was so emotional, I cried through the speeches.", "Loud, chaotic, lots of food. Exactly how we like it."],
        "q_single": [("What happened in {n}'s family recently?", "say"), ("Which relative of {n} {family_event[0]}?", "say")],
        "q_when": ["When did {n}'s {family_q} {family_event[0]}?", "When was the {family_event[1]} in {n}'s family?"],
        "q_open": ["Is {n} close to their family?"],
        "q_multi": ["What family events has {n} mentioned?"],
    },
    "injury": {
        "say": ["Ugh, I hurt my {bodypart} {sport} {when}.", "I'm on the couch this week, I twisted my {bodypart} {when}, {sport}.",
                "{when} I injured my {bodypart} {sport}, so no exercise for a while."],
        "ask": ["Oh no! Are you okay?", "Ouch, did you see a doctor?", "That's awful, take it easy."],
        "more": ["The doctor said rest and ice for a few weeks. I'm so bored.", "It's swollen but nothing's broken, thankfully."],
        "q_single": [("How did {n} get hurt?", "say"), ("What injury did {n} have?", "say"), ("What did the doctor tell {n}?", "more")],
        "q_when": ["When did {n} hurt their {bodypart}?"],
        "q_open": ["Did {n} have to take a break from sports at some point?"],
        "q_multi": ["What injuries has {n} had?"],
    },
    "purchase": {
        "say": ["I bought {purchase[0]} {when}! {purchase[1]}.", "So {when} I finally got {purchase[0]}.",
                "Treated myself {when}: {purchase[0]}."],
        "ask": ["Ooh, show me! Was it expensive?", "Nice, you've been talking about that forever.", "What made you finally do it?"],
        "more": ["It's {purchase[1]}, I saved up for months.", "Not cheap, but I love it. {purchase[1]}."],
        "q_single": [("What did {n} buy recently?", "say"), ("What big purchase did {n} make?", "say")],
        "q_when": ["When did {n} buy {purchase[0]}?"],
        "q_open": ["Is {n} careful with money?"],
        "q_multi": ["What has {n} bought this year?"],
    },
    "cooking": {
        "say": ["I made {dish} for {occasion} {when}.", "{when} I cooked {dish} for {occasion}, first time trying it.",
                "Tried a new recipe {when}: {dish} for {occasion}."],
        "ask": ["Yum! Did it turn out well?", "I'm jealous, I can barely boil pasta.", "You have to give me the recipe."],
        "more": ["Everyone went back for seconds, I was so proud.", "It was a bit of a disaster honestly, but people were nice about it."],
        "q_single": [("What did {n} cook for {occasion_q}?", "say"), ("What dish did {n} make?", "say")],
        "q_when": ["When did {n} make {dish}?"],
        "q_open": ["Does {n} enjoy cooking for other people?", "Would {n} enjoy a cooking class?"],
        "q_multi": ["What dishes has {n} cooked?"],
    },
    "volunteer": {
        "say": ["I started volunteering at {cause[0]} {when}.", "Every Saturday now I help out at {cause[0]}, I started {when}.",
                "{when} was my first shift volunteering at {cause[0]}."],
        "ask": ["That's so kind of you. What do you do there?", "I've been meaning to volunteer somewhere too.", "How did you get into that?"],
        "more": ["Mostly {cause[1]}. It's tiring but it feels good.", "I do {cause[1]}. The people there are so grateful."],
        "q_single": [("Where does {n} volunteer?", "say"), ("What does {n} do as a volunteer?", "more")],
        "q_when": ["When did {n} start volunteering?"],
        "q_open": ["Would {n} consider a career in social work?", "Does {n} care about giving back to the community?"],
        "q_multi": ["Which organizations has {n} volunteered with?"],
    },
    "concert": {
        "say": ["I saw {band} live {when} at {venue}!", "{when} we went to see {band}, best concert of my life.",
                "Got last-minute tickets to {band} {when}."],
        "ask": ["Jealous! How were they?", "Were you close to the stage?", "I love them! Did they play the old songs?"],
        "more": ["The energy was unreal, I lost my voice from singing along.", "We were way at the back but the sound was perfect."],
        "q_single": [("Which band did {n} see live?", "say"), ("What performance did {n} go to?", "say"),
                     ("How was the show {n} went to?", "more")],
        "q_when": ["When did {n} see {band}?"],
        "q_open": ["Would {n} enjoy a music festival?", "Does {n} like live music?"],
        "q_multi": ["What concerts has {n} been to?"],
    },
    "garden": {
        "say": ["I planted {plants} in the backyard {when}.", "My balcony garden is finally going, started {plants} {when}.",
                "{when} I put in {plants}, fingers crossed they survive."],
        "ask": ["You have a green thumb! Do you get enough sun?", "I kill every plant I touch.", "Homegrown is the best."],
        "more": ["The squirrels keep digging things up, it's a war.", "I water every evening, it's my little meditation."],
        "q_single": [("What is {n} growing?", "say"), ("What has been bothering {n}'s garden?", "more")],
        "q_when": ["When did {n} plant {plants}?"],
        "q_open": ["Does {n} enjoy spending time outdoors?"],
        "q_multi": ["What plants has {n} grown?"],
    },
    "course": {
        "say": ["I enrolled in {course} {when}.", "{when} I signed up for {course}, classes are Tuesday nights.",
                "Started {course} {when}, it's harder than I expected."],
        "ask": ["Good for you! Why that one?", "How do you find the time?", "That sounds useful. Is the teacher good?"],
        "more": ["I've always wanted to, and I figured if not now, when.", "The teacher is strict but I'm learning a lot."],
        "q_single": [("What class did {n} sign up for?", "say"), ("Why did {n} decide to take the course?", "more")],
        "q_when": ["When did {n} enroll in {course}?"],
        "q_open": ["Is {n} someone who likes to keep learning new things?"],
        "q_multi": ["What courses has {n} taken?"],
    },
}

SMALL_TALK = [
    "Work has been crazy this week, I'm so ready for the weekend.", "How have you been? It feels like forever.",
    "The weather has been so gloomy lately.", "I finally slept eight hours last night, felt like a new person.",
    "My family is visiting next month, I need to clean the whole house.", "Did you watch the game on Sunday?",
    "I've been so tired lately, I think I need a vacation.", "Traffic this morning was a nightmare.",
    "I'm trying to drink less coffee but it's not going well.", "We should grab dinner sometime soon.",
    "Honestly I just want to stay home and watch movies this weekend.", "My phone screen cracked again, of course.",
    "I've been trying to get up earlier, it's brutal.", "It's been a long week but a good one.",
    "I love our chats, they always cheer me up.", "Have you tried that new taco place near the park?",
    "My neighbor's dog barks all night, I'm losing my mind.", "I need to plan a trip somewhere, anywhere.",
    "Sorry I've been quiet, life has been busy.", "Been thinking about getting back into running.",
    "I had the weirdest dream about my old school.", "My kid has a cold so nobody is sleeping at our place.",
    "The new season of that show is out, no spoilers!", "I keep meaning to read more books but I just scroll my phone.",
    "Work wants us back in the office three days a week now.", "I baked cookies and ate half of them myself.",
    "I'm thinking about learning a new language this year.", "It was so sunny yesterday, I sat in the park for hours.",
]
REPLIES = ["Haha, same here.", "Totally get that.", "Oh no, that sounds rough.", "That's great to hear!",
           "Ha, I know the feeling.", "Right? So true.", "Sounds like a good plan.", "I'm happy for you!",
           "Ugh, hang in there.", "That made me laugh."]
GREET = ["Hey {b}! How's it going?", "Hi {b}, long time no talk!", "{b}! I have so much to tell you.",
         "Good morning {b}, how was your week?", "Hey {b}, got a minute to chat?"]
GREET_BACK = ["Hey {a}! Good, busy. You?", "Hi {a}! Tell me everything.", "{a}! So good to hear from you.",
              "Hey {a}, not bad at all, what's new?"]
BYE = ["Anyway, I have to run. Talk soon, {b}!", "Okay, gotta go make dinner. Bye {b}!", "Talk to you later, {b}, take care.",
       "I should get some sleep. Night {b}!"]
BYE_BACK = ["Bye {a}, take care!", "See you, {a}!", "Talk soon!", "Night {a}!"]


def fill(template: str, slots: dict, **extra) -> str:
    text = template.format(**slots, **extra)
    return text[0].upper() + text[1:]


def draw_slots(rng: random.Random, topic: str) -> dict:
    s = {k: rng.choice(v) for k, v in POOLS.items()}
    s["trip_why_q"] = s["trip_why"].replace("my ", "their ").replace("I'd", "they'd").replace(" I ", " they ")
    s["occasion_q"] = s["occasion"].replace("my ", "their ").replace("our ", "their ")
    s["family_q"] = s["family"].replace("my ", "")
    return s


def build() -> dict:
    rng = random.Random(SEED)
    names = NAMES[:]
    rng.shuffle(names)
    conversations, turns, questions = [], [], []
    tid = 0
    for p in range(PAIRS):
        a, b = names[2 * p], names[2 * p + 1]
        split = "tune" if p < TUNE_PAIRS else "held-out"
        day = datetime(2025, 1, 6, tzinfo=timezone.utc) + timedelta(days=rng.randrange(0, 90))
        sessions = rng.randrange(20, 28)
        # events: each person gets most topics once, a few twice (multi-hop)
        events = []
        for who in (a, b):
            topics = rng.sample(sorted(TOPICS), 14)
            twice = rng.sample(topics, 6)
            for t in topics + twice:
                events.append((who, t))
        rng.shuffle(events)
        per = -(-len(events) // sessions)
        done: dict[tuple[str, str], list[str]] = {}  # (person, topic) -> say turn ids
        for s in range(sessions):
            day += timedelta(days=rng.randrange(4, 16), hours=rng.randrange(-3, 4))
            cid = f"p{p + 1:02d}s{s + 1:02d}"
            conversations.append({"id": cid, "pair": p + 1, "split": split,
                                  "started_at": day.strftime("%Y-%m-%dT%H:%M:%SZ"),
                                  "title": f"{a} and {b}, session {s + 1}"})
            clock = day
            first, second = (a, b) if rng.random() < 0.5 else (b, a)
            lines: list[tuple[str, str, tuple | None]] = []  # speaker, text, (event, part)
            meta = []  # per event of this session: (who, topic, slots)
            lines.append((first, rng.choice(GREET).format(b=second), None))
            lines.append((second, rng.choice(GREET_BACK).format(a=first), None))
            for who, topic in events[s * per:(s + 1) * per]:
                other = b if who == a else a
                spec = TOPICS[topic]
                slots = draw_slots(rng, topic)
                e = len(meta)
                meta.append((who, topic, slots))
                when, _ = rng.choice(WHEN)
                lines.append((who, fill(rng.choice(spec["say"]), slots, when=when), (e, "say")))
                lines.append((other, fill(rng.choice(spec["ask"]), slots), None))
                lines.append((who, fill(rng.choice(spec["more"]), slots), (e, "more")))
                if rng.random() < 0.5:  # the friend has something alike: a distractor
                    o_slots = draw_slots(rng, topic)
                    lead = rng.choice(("Funny, ", "Same here actually, ", "Ha, ", "Oh, and "))
                    said = fill(rng.choice(spec["say"]), o_slots, when=rng.choice(WHEN)[0])
                    lines.append((other, lead + said[0].lower() + said[1:], None))
                    lines.append((who, rng.choice(REPLIES), None))
                for _ in range(rng.choice((0, 1, 1, 2))):  # small talk between events
                    talker = rng.choice((a, b))
                    lines.append((talker, rng.choice(SMALL_TALK), None))
                    lines.append((b if talker == a else a, rng.choice(REPLIES), None))
            lines.append((first, rng.choice(BYE).format(b=second), None))
            lines.append((second, rng.choice(BYE_BACK).format(a=first), None))
            got_ids: list[dict] = [{} for _ in meta]
            for speaker, text, tag in lines:
                tid += 1
                clock += timedelta(seconds=rng.randrange(20, 90))
                turn = {"id": f"t{tid:05d}", "conversation": cid, "speaker": speaker,
                        "time": clock.strftime("%Y-%m-%dT%H:%M:%SZ"), "text": text}
                turns.append(turn)
                if tag:
                    got_ids[tag[0]][tag[1]] = turn["id"]
            for (who, topic, slots), got in zip(meta, got_ids):
                spec = TOPICS[topic]
                first_time = (who, topic) not in done
                done.setdefault((who, topic), []).append(got["say"])
                q_single = rng.choice(spec["q_single"])
                questions.append((split, p, "single-hop", fill(q_single[0], slots, n=who), [got[q_single[1]]]))
                if rng.random() < 0.8:
                    questions.append((split, p, "temporal", fill(rng.choice(spec["q_when"]), slots, n=who),
                                      [got["say"]]))
                if first_time and rng.random() < 0.35:
                    questions.append((split, p, "open", fill(rng.choice(spec["q_open"]), slots, n=who),
                                      [got["say"], got["more"]]))
                if not first_time:
                    questions.append((split, p, "multi-hop", fill(rng.choice(spec["q_multi"]), slots, n=who),
                                      done[(who, topic)][-2:]))
    seen, out = set(), []
    for split, p, kind, text, answers in questions:
        key = (p, text.lower())
        if key in seen:  # the same question twice in one pair would be ambiguous
            continue
        seen.add(key)
        out.append({"id": f"q{len(out) + 1:04d}", "text": text, "answers": answers, "kind": kind,
                    "pair": p + 1, "split": split})
    return {"description": DESCRIPTION, "conversations": conversations, "turns": turns, "questions": out}


DESCRIPTION = (
    "Second memory retrieval set for Arcus Desktop, written separately from memory_eval.json: "
    f"{PAIRS} pairs of friends, each chatting over about twenty sessions across several months; every "
    "turn is said by a named person. Questions are about one person and of four kinds: single-hop, "
    "multi-hop (two turns from different sessions), temporal (answered by the session date of a turn "
    "with a relative time) and open (an inference). Pairs 1-6 are the tuning half and 7-12 the held-out "
    "half. All names, places and events are fictional. Generated by tests/data/make_memory_eval_long.py."
)


def validate(data: dict) -> list[str]:
    errs = []
    turn_ids = {t["id"] for t in data["turns"]}
    conv = {c["id"]: c for c in data["conversations"]}
    for q in data["questions"]:
        for ans in q["answers"]:
            if ans not in turn_ids:
                errs.append(f"{q['id']} answer {ans} missing")
        if len(set(q["answers"])) != len(q["answers"]):
            errs.append(f"{q['id']} repeats an answer")
    by_id = {t["id"]: t for t in data["turns"]}
    for q in data["questions"]:
        for ans in q["answers"]:
            if conv[by_id[ans]["conversation"]]["pair"] != q["pair"]:
                errs.append(f"{q['id']} answered from another pair")
    return errs


def main() -> int:
    out = Path(__file__).with_name("memory_eval_long.json")
    data = build()
    errs = validate(data)
    if errs:
        print("\n".join(errs[:20]), file=sys.stderr)
        return 1
    text = json.dumps(data, indent=1, ensure_ascii=False) + "\n"
    if "--check" in sys.argv:
        if out.read_text(encoding="utf-8") != text:
            print(f"{out} is out of date; rerun {Path(__file__).name}", file=sys.stderr)
            return 1
        print("ok")
        return 0
    out.write_text(text, encoding="utf-8")
    kinds: dict[str, int] = {}
    for q in data["questions"]:
        kinds[q["kind"]] = kinds.get(q["kind"], 0) + 1
    print(f"wrote {out}: {len(data['conversations'])} sessions, {len(data['turns'])} turns, "
          f"{len(data['questions'])} questions {kinds}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
